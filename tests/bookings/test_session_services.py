from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

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
