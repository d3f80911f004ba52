"""Every transition of the booking state machine, allowed and refused, from every state."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from bookings import services
from bookings.errors import BookingError, InvalidTransition
from bookings.models import SEAT_HOLDING, Booking, BookingStatus, CancelReason, Session
from tests.factories import SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db

STATES = ["pending", "confirmed", "completed", "no_show", "cancelled"]


def booking_in(state: str) -> Booking:
    session = SessionFactory(capacity=3)
    booking = services.book(session=session, student=StudentFactory())
    if state in ("confirmed", "completed", "no_show"):
        services.confirm(booking)
    if state in ("completed", "no_show"):
        with time_machine.travel(session.starts_at + timedelta(minutes=1)):
            (services.complete if state == "completed" else services.mark_no_show)(booking)
    if state == "cancelled":
        services.cancel(booking, reason=CancelReason.STAFF)
    assert booking.status == state
    return booking


def run(action: str, booking: Booking) -> None:
    after_start = booking.session.starts_at + timedelta(minutes=1)
    if action == "confirm":
        services.confirm(booking)
    elif action == "cancel":
        services.cancel(booking, reason=CancelReason.STAFF)
    elif action == "reschedule":
        services.reschedule(booking, to_session=SessionFactory(product=booking.session.product))
    elif action == "complete":
        with time_machine.travel(after_start):
            services.complete(booking)
    elif action == "no_show":
        with time_machine.travel(after_start):
            services.mark_no_show(booking)


# (action, from state) -> resulting status of the booking, or None when refused.
ALLOWED = {
    ("confirm", "pending"): "confirmed",
    ("cancel", "pending"): "cancelled",
    ("cancel", "confirmed"): "cancelled",
    ("reschedule", "pending"): "cancelled",
    ("reschedule", "confirmed"): "cancelled",
    ("complete", "confirmed"): "completed",
    ("no_show", "confirmed"): "no_show",
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ["confirm", "cancel", "reschedule", "complete", "no_show"])
def test_it_allows_exactly_the_designed_transitions(action, state):
    booking = booking_in(state)
    session_seats = Session.objects.get(pk=booking.session_id).seats_taken
    events_before = booking.events.count()
    expected = ALLOWED.get((action, state))

    if expected is None:
        with pytest.raises(InvalidTransition):
            run(action, booking)
        booking.refresh_from_db()
        assert booking.status == state
        assert booking.events.count() == events_before  # a refused transition writes no history
        assert Session.objects.get(pk=booking.session_id).seats_taken == session_seats
    else:
        run(action, booking)
        booking.refresh_from_db()
        assert booking.status == expected
        assert booking.events.count() > events_before
        holding = Booking.objects.filter(session_id=booking.session_id, status__in=SEAT_HOLDING).count()
        assert Session.objects.get(pk=booking.session_id).seats_taken == holding


def test_every_refusal_carries_a_message_for_staff():
    booking = booking_in("completed")
    with pytest.raises(BookingError) as caught:
        services.cancel(booking, reason=CancelReason.STAFF)
    assert caught.value.message == f"Booking {booking.reference} is completed: it cannot be cancelled."


def test_states_cover_the_model_choices():
    assert set(STATES) == set(BookingStatus.values)
