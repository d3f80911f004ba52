"""The session rules (bookings.services.schedule), one place for the form, imports, generation and
duplicates: times, tutor, capacity, a future start, no overlap of a tutor's sessions (with buffers)
or of a room's."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import time_machine
from django.utils import timezone

from bookings import services
from bookings.errors import BookingNotAllowed
from bookings.models import Availability, Session, SessionStatus
from bookings.services.generation import SkipReason
from bookings.services.imports import create_sessions
from bookings.services.schedule import MAX_CAPACITY, Rule, Timetable, judge, refusal
from tests.factories import LessonFactory, ProductFactory, SessionFactory, TutorFactory

pytestmark = pytest.mark.django_db


def soon(days: int = 3, hour: int = 10, minute: int = 0):
    """A whole minute on the centre's clock, ``days`` from today."""
    day = timezone.localdate() + timedelta(days=days)
    return timezone.make_aware(timezone.datetime.combine(day, time(hour, minute)))


def refused(**fields) -> services.SessionChangeRefused:
    with pytest.raises(services.SessionChangeRefused) as caught:
        services.create_session(**fields)
    assert not Session.objects.filter(starts_at=fields["starts_at"], product=fields["product"]).exists()
    return caught.value


# --- One session alone -----------------------------------------------------------------------------


def test_a_lesson_needs_a_tutor():
    lesson = LessonFactory(code="GE-1")

    error = refused(product=lesson, starts_at=soon())

    assert (error.field, error.message) == ("tutor", "GE-1 is a lesson: give its tutor.")


def test_a_new_session_needs_an_active_tutor():
    tutor = TutorFactory(is_active=False)

    error = refused(product=LessonFactory(), tutor=tutor, starts_at=soon())

    assert error.field == "tutor" and "not an active tutor" in error.message


@pytest.mark.parametrize(
    ("capacity", "message"),
    [(0, "at least one seat"), (MAX_CAPACITY + 1, f"at most {MAX_CAPACITY} seats"), (100_000, "at most")],
)
def test_an_exam_has_one_to_max_capacity_seats(capacity, message):
    error = refused(product=ProductFactory(), starts_at=soon(), capacity=capacity)

    assert error.field == "capacity" and message in error.message


def test_a_lesson_holds_no_more_than_its_product_sells():
    tutor = TutorFactory()

    one_to_one = refused(
        product=LessonFactory(code="IELTS-1TO1", default_capacity=1), tutor=tutor, starts_at=soon(), capacity=3
    )
    group = refused(
        product=LessonFactory(code="GROUP-6", default_capacity=6), tutor=tutor, starts_at=soon(5), capacity=7
    )

    assert (one_to_one.field, one_to_one.message) == (
        "capacity",
        "IELTS-1TO1 is a one-to-one lesson: its capacity is 1.",
    )
    assert "at most 6 students" in group.message
    fewer = services.create_session(
        product=LessonFactory(default_capacity=6), tutor=tutor, starts_at=soon(7), capacity=4
    )
    assert fewer.capacity == 4


def test_a_session_is_not_added_in_the_past_whatever_its_status():
    for status in (SessionStatus.OPEN, SessionStatus.CLOSED):
        error = refused(product=ProductFactory(), starts_at=timezone.now() - timedelta(hours=1), status=status)
        assert error.field == "starts_at" and "only future sessions can be added" in error.message


def test_an_open_session_is_not_moved_into_the_past_but_a_closed_one_may_be():
    session = SessionFactory()
    yesterday = timezone.now().replace(microsecond=0) - timedelta(days=1)

    with pytest.raises(services.SessionChangeRefused, match="an open session starts in the future") as caught:
        services.update_session(session, starts_at=yesterday, ends_at=None)

    assert caught.value.field == "starts_at"
    services.update_session(session, starts_at=yesterday, ends_at=None, status=SessionStatus.CLOSED)
    assert Session.objects.get(pk=session.pk).starts_at == yesterday


def test_a_started_session_is_not_reopened_even_before_it_ends():
    session = SessionFactory()
    services.close_session(session)

    with time_machine.travel(session.starts_at + timedelta(minutes=5)):
        with pytest.raises(services.SessionChangeRefused, match="has started: it cannot be reopened") as caught:
            services.reopen_session(session)

    assert caught.value.field == "status"
    assert Session.objects.get(pk=session.pk).status == SessionStatus.CLOSED


def test_an_edit_is_judged_on_the_rules_its_changes_touch():
    # A lesson made without a tutor before the rule existed: its room can still be corrected.
    legacy = SessionFactory(product=LessonFactory(), tutor=None, capacity=5)

    services.update_session(legacy, room="Room 9")

    assert Session.objects.get(pk=legacy.pk).room == "Room 9"
    with pytest.raises(services.SessionChangeRefused, match="one-to-one lesson"):
        services.update_session(legacy, capacity=4)


# --- Clashes: the tutor's sessions with buffers, the room's ---------------------------------------


def test_a_tutors_sessions_stay_their_buffers_apart():
    tutor = TutorFactory(buffer_before_minutes=5, buffer_after_minutes=10)
    lesson = LessonFactory(duration_minutes=60)
    services.create_session(product=lesson, tutor=tutor, starts_at=soon(hour=10))  # 10:00-11:00

    too_close = refused(product=lesson, tutor=tutor, starts_at=soon(hour=11, minute=14))
    before = refused(product=lesson, tutor=tutor, starts_at=soon(hour=8, minute=46))

    assert too_close.field == "starts_at"
    assert too_close.message == f"{tutor} already has a session then ({lesson.name} 10:00)."
    assert "already has a session then" in before.message
    services.create_session(product=lesson, tutor=tutor, starts_at=soon(hour=11, minute=15))
    services.create_session(product=lesson, tutor=tutor, starts_at=soon(hour=8, minute=45))
    assert Session.objects.filter(tutor=tutor).count() == 3


def test_a_room_holds_one_session_at_a_time_whatever_its_spelling():
    services.create_session(product=ProductFactory(name="IELTS mock"), starts_at=soon(hour=9), room="Hall A")

    error = refused(product=ProductFactory(), starts_at=soon(hour=11), room="  hall a ")

    assert (error.field, error.message) == ("room", "hall a is taken then (IELTS mock 09:00).")
    services.create_session(product=ProductFactory(), starts_at=soon(hour=12), room="Hall A")  # 9:00 + 3 hours
    services.create_session(product=ProductFactory(), starts_at=soon(hour=11), room="Hall B")


def test_sessions_without_a_room_clash_only_through_their_tutor_or_their_product():
    exam = ProductFactory(name="IELTS mock")
    services.create_session(product=exam, starts_at=soon())
    services.create_session(product=ProductFactory(), starts_at=soon())  # another product, no room: no clash
    services.create_session(product=LessonFactory(), tutor=TutorFactory(), starts_at=soon())

    error = refused(product=exam, starts_at=soon(hour=11))

    assert error.field == "room" and "IELTS mock has a sitting without a room then" in error.message


def test_cancelled_sessions_take_no_time():
    tutor = TutorFactory()
    first = services.create_session(product=LessonFactory(), tutor=tutor, starts_at=soon(), room="Room 2")
    services.cancel_session(first)

    again = services.create_session(product=LessonFactory(), tutor=tutor, starts_at=soon(), room="Room 2")

    assert again.pk != first.pk


def test_an_edit_never_clashes_with_the_session_itself_but_with_the_others():
    tutor = TutorFactory(buffer_after_minutes=0)
    lesson = LessonFactory(duration_minutes=60)
    first = services.create_session(product=lesson, tutor=tutor, starts_at=soon(hour=10), room="Room 1")
    services.create_session(product=lesson, tutor=tutor, starts_at=soon(hour=12), room="Room 2")

    services.update_session(first, starts_at=soon(hour=10, minute=30), ends_at=None)
    with pytest.raises(services.SessionChangeRefused, match="already has a session then") as busy:
        services.update_session(first, starts_at=soon(hour=11, minute=30), ends_at=None)
    with pytest.raises(services.SessionChangeRefused, match="Room 2 is taken then") as taken:
        services.update_session(SessionFactory(starts_at=soon(hour=12, minute=30)), room="Room 2")

    assert (busy.value.field, taken.value.field) == ("starts_at", "room")
    assert Session.objects.get(pk=first.pk).starts_at == soon(hour=10, minute=30)


def test_a_batch_is_judged_against_itself_too():
    tutor = TutorFactory(buffer_after_minutes=0)
    lesson = LessonFactory()
    planned = [
        Session(
            product=lesson,
            tutor=tutor,
            starts_at=soon(hour=h, minute=m),
            ends_at=soon(hour=h + 1, minute=m),
            capacity=1,
        )
        for h, m in ((9, 0), (9, 30), (10, 0))
    ]

    verdicts = judge(planned, now=timezone.now())

    assert [v.rule if v else None for v in verdicts] == [None, Rule.TUTOR_BUSY, None]


def test_the_timetable_reads_everything_a_batch_needs_in_one_query(django_assert_num_queries):
    tutor = TutorFactory()
    for day in range(1, 4):
        SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=soon(day), room=f"Room {day}")
    planned = [
        SessionFactory.build(tutor=tutor, starts_at=soon(day, hour=10, minute=30), room="Hall") for day in range(1, 4)
    ]

    with django_assert_num_queries(1):
        timetable = Timetable.around(planned)

    assert all(timetable.clash(s).rule == Rule.TUTOR_BUSY for s in planned)
    assert refusal(planned[0], now=timezone.now()) is None


# --- The same rules in duplicates and generation ----------------------------------------------------


def test_duplicate_skips_a_week_whose_room_is_taken():
    session = SessionFactory(room="Hall A")
    SessionFactory(product=ProductFactory(), room="HALL A", starts_at=session.starts_at + timedelta(weeks=1, hours=1))

    result = services.duplicate_session(session, weeks=2)

    assert [s.starts_at for s in result.created] == [session.starts_at + timedelta(weeks=2)]
    assert [s.reason for s in result.skipped] == [Rule.ROOM_TAKEN.value]


def test_generation_skips_a_slot_that_breaks_a_session_rule_and_says_which():
    tutor = TutorFactory(lesson_minutes=60, buffer_after_minutes=0, min_notice_hours=0)
    Availability.objects.create(
        tutor=tutor,
        product=LessonFactory(default_capacity=MAX_CAPACITY + 1),
        weekday=0,
        start_time=time(9),
        end_time=time(10),
    )
    now = timezone.make_aware(timezone.datetime(2025, 6, 1, 12))  # a Sunday

    report = services.generate_sessions(tutor=tutor, days=2, now=now)

    assert report.created == 0
    assert report.tutors[0].skipped_by_reason() == {Rule.CAPACITY: 1}
    assert "1 skipped (1 its capacity is out of range)" in report.tutors[0].summary()


def test_generation_keeps_its_own_words_for_an_overlap():
    tutor = TutorFactory(lesson_minutes=60, buffer_after_minutes=15, min_notice_hours=0)
    Availability.objects.create(tutor=tutor, product=LessonFactory(), weekday=0, start_time=time(9), end_time=time(10))
    now = timezone.make_aware(timezone.datetime(2025, 6, 1, 12))
    monday_ten = timezone.make_aware(timezone.datetime(2025, 6, 2, 10, 10))
    SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=monday_ten)  # inside the 9:00 lesson's buffer

    report = services.generate_sessions(tutor=tutor, days=2, now=now)

    assert report.tutors[0].skipped_by_reason() == {SkipReason.OVERLAP: 1}


def test_the_import_write_judges_its_batch_again_and_writes_nothing_on_a_clash():
    tutor, lesson = TutorFactory(buffer_after_minutes=0), LessonFactory(duration_minutes=60)
    planned = [
        Session(product=lesson, tutor=tutor, starts_at=soon(day), ends_at=soon(day, hour=11), capacity=1)
        for day in (3, 4)
    ]
    services.create_session(product=lesson, tutor=tutor, starts_at=soon(4, hour=10, minute=30))  # added meanwhile

    with pytest.raises(BookingNotAllowed, match=r"no longer possible: .* already has a session then"):
        create_sessions(planned)

    assert Session.objects.count() == 1
