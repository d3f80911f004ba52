from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from bookings import services
from bookings.models import Session, SessionSource, SessionStatus
from tests.bookings.imports.util import future, local, messages, run
from tests.factories import LessonFactory, ManagerFactory, ProductFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db

HEADER = ["product_code", "tutor", "starts_at", "capacity", "room"]


@pytest.fixture
def mock(db):
    return ProductFactory(code="IELTS-MOCK", name="IELTS mock", duration_minutes=180, default_capacity=30)


@pytest.fixture
def lesson(db):
    return LessonFactory(code="GE-1", name="General English", duration_minutes=60)


def test_it_creates_sessions_on_the_centres_clock(mock, lesson):
    tutor = TutorFactory(lesson_minutes=50)
    manager = ManagerFactory()
    exam_start, lesson_start = future(days=4, hour=9), future(days=4, hour=15)

    report = run(
        "sessions",
        [
            HEADER,
            ["IELTS-MOCK", "", local(exam_start), "", "Hall A"],
            ["ge-1", tutor.user.phone, local(lesson_start), "1", ""],
        ],
        actor=manager,
    )

    assert report.ok, messages(report)
    assert report.counts["new"] == 2
    exam = Session.objects.get(product=mock)
    assert (exam.starts_at, exam.ends_at, exam.capacity, exam.room) == (
        exam_start,
        exam_start + timedelta(minutes=180),
        30,
        "Hall A",
    )
    assert (exam.source, exam.status, exam.seats_taken, exam.created_by) == (
        SessionSource.IMPORT,
        SessionStatus.OPEN,
        0,
        manager,
    )
    taught = Session.objects.get(product=lesson)
    # A lesson lasts its tutor's lesson length, as generated lessons do.
    assert (taught.tutor, taught.ends_at) == (tutor, lesson_start + timedelta(minutes=50))


def test_reimport_skips_unchanged_sessions_and_updates_capacity_and_room(mock):
    start = future(days=5)
    rows = [HEADER, ["IELTS-MOCK", "", local(start), "20", "Hall A"]]
    assert run("sessions", rows).ok

    same = run("sessions", rows)
    changed = run("sessions", [HEADER, ["IELTS-MOCK", "", local(start), "25", "Hall B"]])

    assert same.counts == {"new": 0, "updated": 0, "skipped": 1, "invalid": 0}
    assert "nothing changed" in same.summary
    assert changed.counts["updated"] == 1
    assert changed.preview[0].message == "capacity 20 → 25; room Hall A → Hall B"
    session = Session.objects.get()
    assert (session.capacity, session.room) == (25, "Hall B")


def test_capacity_cannot_go_below_the_seats_taken(mock):
    session = SessionFactory(product=mock, starts_at=future(days=5), capacity=5)
    for _ in range(3):
        services.book(session=session, student=StudentFactory())

    report = run("sessions", [HEADER, ["IELTS-MOCK", "", local(session.starts_at), "2", ""]])

    assert messages(report) == ["Line 2: 3 seats are booked: the capacity cannot be lower than that."]
    assert Session.objects.get().capacity == 5


def test_it_explains_each_bad_row(mock, lesson):
    tutor = TutorFactory()
    busy = SessionFactory(
        product=lesson, tutor=tutor, starts_at=future(days=3, hour=10), ends_at=future(days=3, hour=11), capacity=1
    )
    past = timezone.localtime() - timedelta(days=1)
    rows = [
        HEADER,
        ["IELTS-X", "", local(future()), "", ""],
        ["IELTS-MOCK", "", "2026-13-45 10:00", "", ""],
        ["IELTS-MOCK", "", local(future()), "many", ""],
        ["IELTS-MOCK", "", local(past), "", ""],
        ["GE-1", "", local(future(days=6)), "", ""],
        ["GE-1", "nobody@example.com", local(future(days=6)), "", ""],
        ["GE-1", tutor.user.email, local(busy.starts_at + timedelta(minutes=30)), "", ""],
        ["IELTS-MOCK", "", local(future(days=8)), "", ""],
        ["IELTS-MOCK", "", local(future(days=8)), "", ""],
        ["GE-1", tutor.user.email, local(future(days=9, hour=10)), "", ""],
        ["GE-1", tutor.user.email, local(future(days=9, hour=10) + timedelta(minutes=30)), "", ""],
    ]

    report = run("sessions", rows)

    assert messages(report) == [
        "Line 2: unknown product “IELTS-X” (known: GE-1, IELTS-MOCK).",
        "Line 3: “2026-13-45 10:00” in starts_at is not a date and time: use YYYY-MM-DD HH:MM.",
        "Line 4: “many” in capacity is not a whole number of 1 or more.",
        f"Line 5: {local(past)} is in the past: only future sessions can be imported.",
        "Line 6: GE-1 is a lesson: give its tutor.",
        "Line 7: no tutor with e-mail nobody@example.com.",
        f"Line 8: {tutor} already has a session then (General English {timezone.localtime(busy.starts_at):%H:%M}).",
        "Line 10: the same session as line 9: remove one of them.",
        f"Line 12: {tutor} already has a session then (General English 10:00, line 11).",
    ]
    assert report.counts == {"new": 2, "updated": 0, "skipped": 0, "invalid": 9}
    assert Session.objects.count() == 1


def last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


def test_a_time_that_does_not_exist_or_happens_twice_on_the_centres_clock_is_refused(settings, mock):
    settings.TIME_ZONE = "Europe/London"
    year = timezone.now().year + 1
    spring, autumn = last_sunday(year, 3), last_sunday(year, 10)

    report = run(
        "sessions",
        [HEADER, ["IELTS-MOCK", "", f"{spring} 01:30", "", ""], ["IELTS-MOCK", "", f"{autumn} 01:30", "", ""]],
    )

    assert [e.message for e in report.errors] == [
        f"{spring} 01:30 does not exist on the centre's clock that day (clocks go forward).",
        f"{autumn} 01:30 happens twice on the centre's clock that day (clocks go back).",
    ]
    assert not Session.objects.exists()


def test_day_first_dates_are_accepted(mock):
    start = future(days=5, hour=9)

    report = run("sessions", [HEADER, ["IELTS-MOCK", "", f"{timezone.localtime(start):%d.%m.%Y %H:%M}", "", ""]])

    assert report.ok, messages(report)
    assert Session.objects.get().starts_at == start


def test_the_session_rules_of_the_form_are_row_errors_here(mock, lesson):
    tutor = TutorFactory(buffer_after_minutes=15)
    SessionFactory(product=mock, room="Hall A", starts_at=future(days=3, hour=9))  # 9:00-12:00
    SessionFactory(product=lesson, tutor=tutor, room="", starts_at=future(days=4, hour=10), capacity=1)  # 10-11
    rows = [
        HEADER,
        ["IELTS-MOCK", "", local(future(days=5)), "100000", ""],
        ["GE-1", tutor.user.email, local(future(days=6)), "3", ""],
        ["IELTS-MOCK", "", local(future(days=3, hour=11)), "", "hall a"],
        ["GE-1", tutor.user.email, local(future(days=4, hour=11) + timedelta(minutes=10)), "", ""],
        ["IELTS-MOCK", "", local(future(days=7, hour=9)), "", "Hall C"],
        ["IELTS-MOCK", "", local(future(days=7, hour=10)), "", "Hall C"],
    ]

    report = run("sessions", rows)

    assert messages(report) == [
        "Line 2: A session holds at most 500 seats.",
        "Line 3: GE-1 is a one-to-one lesson: its capacity is 1.",
        "Line 4: hall a is taken then (IELTS mock 09:00).",
        f"Line 5: {tutor} already has a session then (General English 10:00).",
        "Line 7: Hall C is taken then (IELTS mock 09:00, line 6).",
    ]
    assert [error.column for error in report.errors] == ["capacity", "capacity", "room", "starts_at", "room"]
    assert Session.objects.count() == 2


def test_an_update_may_not_move_a_session_into_a_taken_room(mock):
    start = future(days=5, hour=9)
    SessionFactory(product=ProductFactory(name="Speaking club"), room="Hall B", starts_at=start + timedelta(hours=1))
    session = SessionFactory(product=mock, room="Hall A", starts_at=start)

    report = run("sessions", [HEADER, ["IELTS-MOCK", "", local(start), "", "Hall B"]])

    assert messages(report) == ["Line 2: Hall B is taken then (Speaking club 10:00)."]
    assert Session.objects.get(pk=session.pk).room == "Hall A"
