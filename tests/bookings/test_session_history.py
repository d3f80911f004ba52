"""A session's history (SessionEvent): written by the session services whoever calls them -- the
admin, an import, the generate command and the daily task, a duplicate, a cancellation by nobody in
particular -- and in batches on the bulk paths."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings import services, tasks
from bookings.models import Availability, BookingEvent, CancelReason, Session, SessionAction, SessionEvent
from tests.bookings.imports.util import csv_bytes, future, local, run
from tests.factories import LessonFactory, ManagerFactory, ProductFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db

SUNDAY_NOON = datetime(2025, 6, 1, 12, tzinfo=zoneinfo.ZoneInfo("Asia/Tashkent"))
HEADER = ["product_code", "tutor", "starts_at", "capacity", "room"]


def actions(session: Session) -> list[str]:
    return list(SessionEvent.objects.filter(session=session).order_by("id").values_list("action", flat=True))


def teaching_tutor(start: int = 9, end: int = 12):
    tutor = TutorFactory(lesson_minutes=60, buffer_after_minutes=0, min_notice_hours=0)
    Availability.objects.create(
        tutor=tutor, product=LessonFactory(), weekday=0, start_time=time(start), end_time=time(end)
    )
    return tutor


# --- The single-session services -----------------------------------------------------------------


def test_creating_a_session_records_what_it_was_made_with():
    manager = ManagerFactory()
    tutor = TutorFactory()
    starts = future(days=4)

    session = services.create_session(
        product=LessonFactory(name="General English"), tutor=tutor, starts_at=starts, room="Room 3", actor=manager
    )

    event = SessionEvent.objects.get(session=session)
    assert (event.action, event.actor) == (SessionAction.CREATED, manager)
    assert event.data == {
        "product": "General English",
        "tutor": str(tutor),
        "room": "Room 3",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "capacity": 1,
        "status": "open",
    }
    assert event.describe() == f"1 seat(s), room Room 3, tutor {tutor}"


def test_an_edit_records_each_change_old_to_new_and_a_refused_one_records_nothing():
    session = SessionFactory(room="Room 1", capacity=5)
    manager = ManagerFactory()
    before, later = session.starts_at, session.starts_at + timedelta(days=1)

    services.update_session(session, room="Hall B", starts_at=later, ends_at=None, capacity=8, actor=manager)
    with pytest.raises(services.SessionChangeRefused):
        services.update_session(session, room="Hall C", capacity=0, actor=manager)

    edited, capacity = SessionEvent.objects.filter(session=session).order_by("id")
    assert (edited.action, capacity.action) == (SessionAction.EDITED, SessionAction.CAPACITY_CHANGED)
    assert edited.data["changes"]["room"] == ["Room 1", "Hall B"]
    assert edited.data["changes"]["starts_at"] == [before.isoformat(), later.isoformat()]
    assert capacity.data == {"old": 5, "new": 8}
    shown = f"{timezone.localtime(later):%a %d %b %Y %H:%M}"
    assert "Room: Room 1 → Hall B" in edited.describe() and shown in edited.describe()
    assert capacity.describe() == "5 → 8 seats"


def test_close_reopen_and_cancel_are_recorded_with_the_bookings_cancelled():
    session = SessionFactory(capacity=5)
    for _ in range(2):
        services.book(session=session, student=StudentFactory())

    services.close_session(session)
    services.reopen_session(session)
    services.cancel_session(session, reason=CancelReason.TUTOR, note="Examiner ill")  # as a command would: no one

    assert actions(session) == ["session.closed", "session.reopened", "session.cancelled"]
    cancelled = SessionEvent.objects.get(session=session, action=SessionAction.CANCELLED)
    assert cancelled.actor is None and cancelled.actor_label == "system"
    assert cancelled.data == {"reason": "tutor", "bookings": 2, "note": "Examiner ill"}
    assert cancelled.describe() == "2 booking(s) cancelled with it, by the tutor: Examiner ill"
    # Each booking is cancelled by the state machine's one move, with the session's words.
    histories = BookingEvent.objects.filter(booking__session=session, action="booking.cancelled")
    assert [event.data for event in histories] == [
        {"reason": "tutor", "session_cancelled": True, "note": "Examiner ill"}
    ] * 2


def test_a_duplicate_is_recorded_on_the_source_and_on_each_copy():
    operator = ManagerFactory()
    session = SessionFactory(room="Hall A")

    result = services.duplicate_session(session, weeks=2, actor=operator)

    source = SessionEvent.objects.get(session=session)
    assert (source.action, source.actor) == (SessionAction.DUPLICATED, operator)
    assert source.data == {"copies": [c.starts_at.isoformat() for c in result.created], "skipped": 0}
    assert source.describe().startswith("Copied to 2 week(s): ")
    for copy in result.created:
        event = SessionEvent.objects.get(session=copy)
        assert (event.action, event.data["copy_of"]) == (SessionAction.DUPLICATED, session.pk)
        assert event.describe() == f"Copy of the session of {timezone.localtime(session.starts_at):%a %d %b %Y %H:%M}"


def test_the_history_is_append_only():
    session = services.create_session(product=ProductFactory(), starts_at=future())
    event = SessionEvent.objects.get(session=session)

    with pytest.raises(ValueError, match="append-only"):
        event.save()


# --- Generation: command and daily task, events in batches -----------------------------------------


def test_the_generate_command_records_each_generated_session():
    tutor = teaching_tutor()

    with time_machine.travel(SUNDAY_NOON, tick=False):
        call_command("generate_sessions", "--days", "2", stdout=StringIO())

    sessions = Session.objects.filter(tutor=tutor)
    assert sessions.count() == 3
    events = SessionEvent.objects.filter(session__in=sessions)
    assert sorted(events.values_list("session_id", flat=True)) == sorted(s.pk for s in sessions)
    assert set(events.values_list("action", "actor")) == {(SessionAction.GENERATED, None)}


def test_the_daily_task_records_each_generated_session():
    teaching_tutor()

    with time_machine.travel(SUNDAY_NOON, tick=False):
        assert tasks.generate_upcoming_sessions(days=2)["created"] == 3

    assert SessionEvent.objects.filter(action=SessionAction.GENERATED).count() == 3


def test_generation_writes_its_history_in_a_fixed_number_of_statements():
    def statements(days: int) -> int:
        tutor = teaching_tutor(start=8, end=20)
        with CaptureQueriesContext(connection) as queries:
            report = services.generate_sessions(tutor=tutor, days=days, now=SUNDAY_NOON)
        assert SessionEvent.objects.filter(session__tutor=tutor).count() == report.created
        return len([q for q in queries if "bookings_sessionevent" in q["sql"]])

    assert statements(2) == statements(9) == 1  # 12, then 24 sessions: one INSERT of their events


# --- Imports ---------------------------------------------------------------------------------------


def test_an_import_records_new_sessions_and_the_changes_it_makes():
    exam = ProductFactory(code="IELTS-MOCK", default_capacity=30)
    manager = ManagerFactory()
    start = future(days=5)
    assert run("sessions", [HEADER, ["IELTS-MOCK", "", local(start), "20", "Hall A"]], actor=manager).ok
    session = Session.objects.get(product=exam)

    assert run("sessions", [HEADER, ["IELTS-MOCK", "", local(start), "25", "Hall B"]], actor=manager).ok

    imported, edited, capacity = SessionEvent.objects.filter(session=session).order_by("id")
    assert (imported.action, imported.actor, imported.data["capacity"]) == (SessionAction.IMPORTED, manager, 20)
    assert (edited.action, edited.data) == (
        SessionAction.EDITED,
        {"changes": {"room": ["Hall A", "Hall B"]}, "via": "import"},
    )
    assert (capacity.action, capacity.data) == (SessionAction.CAPACITY_CHANGED, {"old": 20, "new": 25, "via": "import"})
    assert capacity.describe() == "20 → 25 seats (import)"


def test_a_dry_run_records_nothing():
    ProductFactory(code="IELTS-MOCK")

    assert run("sessions", [HEADER, ["IELTS-MOCK", "", local(future()), "", ""]], dry_run=True).ok

    assert not SessionEvent.objects.exists()


def test_the_import_command_records_the_sessions_it_adds(tmp_path):
    ProductFactory(code="IELTS-MOCK")
    path = tmp_path / "sessions.csv"
    rows = [["IELTS-MOCK", "", local(future(days=day)), "", f"Hall {day}"] for day in (3, 4)]
    path.write_bytes(csv_bytes([HEADER, *rows]))

    call_command("import_data", "sessions", str(path), stdout=StringIO(), stderr=StringIO())

    assert SessionEvent.objects.filter(action=SessionAction.IMPORTED).count() == 2


def test_an_import_costs_the_same_statements_for_3_or_30_sessions():
    ProductFactory(code="IELTS-MOCK")

    def statements(count: int, first_day: int) -> int:
        rows = [HEADER] + [["IELTS-MOCK", "", local(future(days=first_day + n)), "", "Hall A"] for n in range(count)]
        with CaptureQueriesContext(connection) as queries:
            assert run("sessions", rows).ok
        return len(queries)

    assert statements(3, first_day=2) == statements(30, first_day=40)
    assert SessionEvent.objects.filter(action=SessionAction.IMPORTED).count() == 33
