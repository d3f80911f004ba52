from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone

from bookings import services
from bookings.errors import BookingNotAllowed, InvalidTransition, SessionFull
from bookings.models import BookingStatus, CancelReason, Reminder, ReminderStatus, Session, SessionStatus
from realtime.models import Notification
from tests.factories import LessonFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db


def test_it_changes_the_capacity_down_to_the_seats_taken(session):
    for _ in range(3):
        services.book(session=session, student=StudentFactory())
    services.change_capacity(session, capacity=3)
    assert Session.objects.get(pk=session.pk).capacity == 3
    with pytest.raises(SessionFull):
        services.book(session=session, student=StudentFactory())


def test_it_refuses_a_capacity_below_the_seats_taken_and_changes_nothing(session):
    for _ in range(3):
        services.book(session=session, student=StudentFactory())
    stale = Session.objects.get(pk=session.pk)
    services.book(session=session, student=StudentFactory())  # a fourth seat, after staff read the page
    with pytest.raises(BookingNotAllowed, match="4 seats are booked"):
        services.change_capacity(stale, capacity=3)
    assert Session.objects.get(pk=session.pk).capacity == 5


def test_it_refuses_a_session_without_seats(session):
    with pytest.raises(BookingNotAllowed, match="at least one seat"):
        services.change_capacity(session, capacity=0)


def test_closing_stops_new_bookings_and_keeps_existing_ones(session, student):
    booking = services.book(session=session, student=student)
    services.close_session(session)
    with pytest.raises(BookingNotAllowed, match="closed"):
        services.book(session=session, student=StudentFactory())
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
    assert Session.objects.get(pk=session.pk).seats_taken == 1

    services.reopen_session(session)
    services.book(session=session, student=StudentFactory())
    assert Session.objects.get(pk=session.pk).seats_taken == 2


def test_it_refuses_to_close_twice_or_reopen_an_open_session(session):
    with pytest.raises(InvalidTransition, match="open"):
        services.reopen_session(session)
    services.close_session(session)
    with pytest.raises(InvalidTransition, match="closed"):
        services.close_session(session)


def test_it_never_reopens_a_session_that_has_ended(session):
    services.close_session(session)
    with time_machine.travel(session.ends_at + timedelta(minutes=1)):
        with pytest.raises(BookingNotAllowed, match="ended"):
            services.reopen_session(session)


def test_cancelling_a_session_cancels_every_booking_that_holds_a_seat(operator):
    tutor = TutorFactory()
    session = SessionFactory(product=LessonFactory(), tutor=tutor, capacity=3)
    pending = services.book(session=session, student=StudentFactory())
    paid = services.book(session=session, student=StudentFactory())
    services.record_payment(paid, provider="cash", amount=paid.price)
    gone = services.book(session=session, student=StudentFactory())
    services.cancel(gone, reason=CancelReason.STAFF)

    cancelled = services.cancel_session(session, reason=CancelReason.TUTOR, actor=operator)

    assert cancelled == 2
    session.refresh_from_db()
    assert (session.status, session.seats_taken) == (SessionStatus.CANCELLED, 0)
    for booking in (pending, paid):
        booking.refresh_from_db()
        assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.TUTOR)
        event = booking.events.get(action="booking.cancelled")
        assert (event.actor, event.data["session_cancelled"]) == (operator, True)
    assert not Reminder.objects.filter(booking=paid, status=ReminderStatus.PENDING).exists()
    assert Notification.objects.filter(recipient=tutor.user, type="booking.cancelled").count() == 3
    with pytest.raises(BookingNotAllowed, match="cancelled"):
        services.book(session=session, student=StudentFactory())


def test_cancelling_a_session_twice_is_refused(session):
    services.cancel_session(session)
    with pytest.raises(InvalidTransition, match="cancelled"):
        services.cancel_session(session)


def test_a_session_is_cancelled_by_staff_or_tutor_only(session):
    with pytest.raises(BookingNotAllowed):
        services.cancel_session(session, reason=CancelReason.EXPIRED)
    assert Session.objects.get(pk=session.pk).status == SessionStatus.OPEN


def test_cancelling_a_session_keeps_the_staff_note_in_each_bookings_history(session, operator):
    booking = services.book(session=session, student=StudentFactory())

    services.cancel_session(session, actor=operator, note="Examiner ill")

    event = booking.events.get(action="booking.cancelled")
    assert event.data == {"reason": "staff", "session_cancelled": True, "note": "Examiner ill"}


# --- duplicate_session ---------------------------------------------------------------------------


def local(text: str) -> datetime:
    """An aware datetime from ``YYYY-MM-DD HH:MM`` on the centre's clock (TIME_ZONE)."""
    return timezone.make_aware(datetime.strptime(text, "%Y-%m-%d %H:%M"))


def test_it_duplicates_a_session_to_the_same_time_on_the_next_weeks(operator):
    tutor = TutorFactory()
    session = SessionFactory(product=LessonFactory(default_capacity=4), tutor=tutor, room="Room 3", capacity=4)
    services.book(session=session, student=StudentFactory())

    result = services.duplicate_session(session, weeks=3, actor=operator)

    assert result.skipped == []
    assert [s.starts_at for s in result.created] == [session.starts_at + timedelta(weeks=w) for w in (1, 2, 3)]
    for copy in Session.objects.filter(pk__in=[s.pk for s in result.created]):
        assert (copy.product_id, copy.tutor_id, copy.room, copy.capacity) == (session.product_id, tutor.pk, "Room 3", 4)
        assert copy.ends_at - copy.starts_at == session.ends_at - session.starts_at
        assert (copy.status, copy.seats_taken, copy.created_by) == (SessionStatus.OPEN, 0, operator)


def test_it_skips_and_reports_the_weeks_the_tutor_is_busy():
    tutor = TutorFactory()
    lesson = SessionFactory(product=LessonFactory(duration_minutes=60), tutor=tutor)
    # Overlapping without sharing the start, and a cancelled session that frees its slot.
    SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=lesson.starts_at + timedelta(weeks=1, minutes=45))
    freed = SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=lesson.starts_at + timedelta(weeks=2))
    services.cancel_session(freed)
    # Another tutor at the very same time (in another room) is no clash.
    SessionFactory(
        product=LessonFactory(), tutor=TutorFactory(), room="Room 2", starts_at=lesson.starts_at + timedelta(weeks=3)
    )

    result = services.duplicate_session(lesson, weeks=3)

    assert [s.starts_at for s in result.created] == [lesson.starts_at + timedelta(weeks=w) for w in (2, 3)]
    assert [s.starts_at for s in result.skipped] == [lesson.starts_at + timedelta(weeks=1)]
    assert "already has a session" in result.skipped[0].reason


def test_duplicating_an_exam_twice_creates_nothing_the_second_time():
    exam = SessionFactory(room="Hall A")

    first = services.duplicate_session(exam, weeks=2)
    second = services.duplicate_session(exam, weeks=2)

    assert len(first.created) == 2
    assert (second.created, len(second.skipped)) == ([], 2)
    assert Session.objects.count() == 3


@override_settings(TIME_ZONE="Europe/Kyiv")
def test_it_keeps_the_local_time_across_a_daylight_saving_change():
    # Kyiv moves from UTC+2 to UTC+3 on Sunday 29 March 2026.
    with time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC)):
        session = SessionFactory(starts_at=local("2026-03-23 10:00"))

        result = services.duplicate_session(session, weeks=2)

    kyiv = ZoneInfo("Europe/Kyiv")
    assert [s.starts_at.astimezone(kyiv).strftime("%a %H:%M") for s in result.created] == ["Mon 10:00"] * 2
    assert session.starts_at.astimezone(UTC).hour == 8
    assert [s.starts_at.astimezone(UTC).hour for s in result.created] == [7, 7]
    assert result.created[0].starts_at - session.starts_at.astimezone(UTC) == timedelta(weeks=1, hours=-1)
    assert result.created[0].ends_at - result.created[0].starts_at == timedelta(minutes=180)


@override_settings(TIME_ZONE="Europe/Kyiv")
def test_it_skips_a_time_that_the_clock_jumps_over():
    # 03:30 does not happen in Kyiv on 29 March 2026: the clock goes from 03:00 to 04:00.
    with time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC)):
        session = SessionFactory(starts_at=local("2026-03-22 03:30"))

        result = services.duplicate_session(session, weeks=2)

    assert [s.starts_at for s in result.skipped] == [local("2026-04-05 03:30") - timedelta(weeks=1)]
    assert "does not exist" in result.skipped[0].reason
    assert [s.starts_at for s in result.created] == [local("2026-04-05 03:30")]


def test_it_skips_weeks_already_past():
    session = SessionFactory()
    with time_machine.travel(session.starts_at + timedelta(weeks=1, hours=1)):
        result = services.duplicate_session(session, weeks=2)

    assert [s.reason for s in result.skipped] == ["it is in the past"]
    assert [s.starts_at for s in result.created] == [session.starts_at + timedelta(weeks=2)]


@pytest.mark.parametrize("weeks", [0, 27])
def test_it_refuses_a_number_of_weeks_out_of_range(session, weeks):
    with pytest.raises(BookingNotAllowed, match="1 to 26 weeks"):
        services.duplicate_session(session, weeks=weeks)
    assert Session.objects.count() == 1


# --- Creating and editing a session: whole or not at all ------------------------------------------


def test_update_session_applies_every_change_together(session):
    services.book(session=session, student=StudentFactory())

    services.update_session(session, room="Hall B", capacity=2, status=SessionStatus.CLOSED)

    stored = Session.objects.get(pk=session.pk)
    assert (stored.room, stored.capacity, stored.status, stored.seats_taken) == ("Hall B", 2, "closed", 1)
    assert (session.room, session.capacity, session.status) == ("Hall B", 2, "closed")


def test_update_session_refuses_a_status_change_and_saves_nothing_else(session):
    services.cancel_session(session)

    with pytest.raises(InvalidTransition, match="is cancelled: it cannot be reopened"):
        services.update_session(session, room="Hall B", capacity=9, status=SessionStatus.OPEN)

    stored = Session.objects.get(pk=session.pk)
    assert (stored.room, stored.capacity, stored.status) == (session.room, 5, SessionStatus.CANCELLED)


def test_update_session_never_reopens_a_session_that_has_ended(session):
    services.close_session(session)
    with time_machine.travel(session.ends_at + timedelta(minutes=1)):
        with pytest.raises(BookingNotAllowed, match="has ended"):
            services.update_session(session, room="Hall B", status=SessionStatus.OPEN)
    assert Session.objects.get(pk=session.pk).room == session.room


def test_update_session_refuses_a_capacity_below_the_seats_taken_on_its_field(session):
    for _ in range(3):
        services.book(session=session, student=StudentFactory())
    stale = Session.objects.get(pk=session.pk)
    services.book(session=session, student=StudentFactory())  # a fourth seat, after staff read the page

    with pytest.raises(services.SessionChangeRefused, match="4 seats are booked") as refused:
        services.update_session(stale, room="Hall B", capacity=3)

    assert refused.value.field == "capacity"
    assert Session.objects.get(pk=session.pk).room == session.room


def test_update_session_keeps_the_time_and_tutor_of_a_booked_session(session):
    services.book(session=session, student=StudentFactory())

    with pytest.raises(services.SessionChangeRefused, match="reschedule them") as refused:
        services.update_session(session, starts_at=session.starts_at + timedelta(hours=1), room="Hall B")

    assert refused.value.field == "starts_at"
    assert Session.objects.get(pk=session.pk).starts_at == session.starts_at


def test_update_session_cancels_only_a_session_without_bookings(session):
    services.book(session=session, student=StudentFactory())
    with pytest.raises(services.SessionChangeRefused, match="still hold a seat"):
        services.update_session(session, status=SessionStatus.CANCELLED)
    empty = SessionFactory()
    services.update_session(empty, status=SessionStatus.CANCELLED)
    assert Session.objects.get(pk=empty.pk).status == SessionStatus.CANCELLED


def test_update_session_fills_an_emptied_end_and_capacity_from_the_product():
    session = SessionFactory(capacity=3)
    later = session.starts_at + timedelta(days=1)

    services.update_session(session, starts_at=later, ends_at=None, capacity=None)

    stored = Session.objects.get(pk=session.pk)
    product = session.product
    assert (stored.starts_at, stored.ends_at) == (later, later + timedelta(minutes=product.duration_minutes))
    assert stored.capacity == product.default_capacity


def test_update_session_refuses_a_tutors_second_session_at_the_same_start():
    tutor = TutorFactory()
    first = SessionFactory(product=LessonFactory(), tutor=tutor)
    second = SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=first.starts_at + timedelta(days=1))

    with pytest.raises(services.SessionChangeRefused, match="already has a session"):
        services.update_session(second, starts_at=first.starts_at, ends_at=None)
    assert Session.objects.get(pk=second.pk).starts_at == first.starts_at + timedelta(days=1)


def test_create_session_takes_the_products_length_and_capacity_and_refuses_a_clash():
    product, tutor = LessonFactory(duration_minutes=45, default_capacity=2), TutorFactory()
    starts = timezone.now().replace(microsecond=0) + timedelta(days=2)

    session = services.create_session(product=product, tutor=tutor, starts_at=starts, room="Room 3")

    assert (session.ends_at, session.capacity, session.status) == (starts + timedelta(minutes=45), 2, "open")
    with pytest.raises(services.SessionChangeRefused, match="already has a session"):
        services.create_session(product=product, tutor=tutor, starts_at=starts)
    with pytest.raises(services.SessionChangeRefused, match="end after it starts"):
        services.create_session(product=product, starts_at=starts, ends_at=starts)
    assert Session.objects.count() == 1
