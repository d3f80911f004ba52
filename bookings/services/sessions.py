"""Changing a session itself: capacity, closing, reopening, cancelling with its bookings."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from bookings.errors import BookingNotAllowed, InvalidTransition
from bookings.models import SEAT_HOLDING, Booking, CancelReason, Session, SessionStatus
from bookings.services._common import publish_booking, publish_slot
from bookings.services.transitions import _cancel


def change_capacity(session: Session, *, capacity: int, actor: Any = None) -> Session:
    """Set the number of seats; never below the seats already taken.

    One conditional UPDATE: a booking taking a seat while staff lower the capacity either lands
    first (and the change is refused with the new count) or finds the smaller capacity.
    """
    if capacity < 1:
        raise BookingNotAllowed("A session needs at least one seat.")
    with transaction.atomic():
        if not Session.objects.filter(pk=session.pk, seats_taken__lte=capacity).update(capacity=capacity):
            taken = Session.objects.values_list("seats_taken", flat=True).get(pk=session.pk)
            raise BookingNotAllowed(f"{taken} seats are booked: the capacity cannot be lower than that.")
        session.capacity = capacity
        session.seats_taken = Session.objects.values_list("seats_taken", flat=True).get(pk=session.pk)
        publish_slot(session.pk)
    return session


def close_session(session: Session, *, actor: Any = None) -> Session:
    """Stop new bookings; existing bookings keep their seats."""
    with transaction.atomic():
        _set_status(session, allowed=[SessionStatus.OPEN], to=SessionStatus.CLOSED, verb="closed")
        publish_slot(session.pk)
    return session


def reopen_session(session: Session, *, actor: Any = None) -> Session:
    if session.ends_at <= timezone.now():
        raise BookingNotAllowed(f"{session} has ended: it cannot be reopened.")
    with transaction.atomic():
        _set_status(session, allowed=[SessionStatus.CLOSED], to=SessionStatus.OPEN, verb="reopened")
        publish_slot(session.pk)
    return session


def cancel_session(session: Session, *, reason: str = CancelReason.STAFF, actor: Any = None) -> int:
    """Cancel the session and, in the same transaction, every booking that holds a seat in it.

    Each booking goes through the same cancellation as a single one (history, seat, reminders,
    event). Returns how many bookings were cancelled.
    """
    if reason not in (CancelReason.STAFF, CancelReason.TUTOR):
        raise BookingNotAllowed("A session is cancelled by staff or by its tutor.")
    with transaction.atomic():
        _set_status(
            session, allowed=[SessionStatus.OPEN, SessionStatus.CLOSED], to=SessionStatus.CANCELLED, verb="cancelled"
        )
        # Read once with what each cancellation needs; the session's status is already cancelled,
        # so no new booking can join this list while we work through it.
        bookings = list(
            Booking.objects.select_related("session__product", "session__tutor", "student")
            .filter(session=session, status__in=SEAT_HOLDING)
            .order_by("pk")
        )
        for booking in bookings:
            _cancel(booking, reason=reason, actor=actor, session_cancelled=True)
            publish_booking("booking.cancelled", booking, reason=reason, session_cancelled=True)
        publish_slot(session.pk)
        session.seats_taken = 0
    return len(bookings)


def _set_status(session: Session, *, allowed: list[str], to: str, verb: str) -> Session:
    # Compare-and-set, like a booking's status: two staff members acting at once cannot both win.
    if not Session.objects.filter(pk=session.pk, status__in=allowed).update(status=to):
        current = Session.objects.values_list("status", flat=True).get(pk=session.pk)
        raise InvalidTransition(f"{session} is {SessionStatus(current).label.lower()}: it cannot be {verb}.")
    session.status = to
    return session
