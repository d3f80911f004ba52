"""Shared pieces of the booking services: seat counting, guarded status changes, history, events.

Private to ``bookings.services``; everything else calls the public service functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import F
from django.utils import timezone

from bookings.errors import InvalidTransition
from bookings.models import Booking, BookingEvent, BookingStatus, Session, SessionStatus
from realtime.events import publish, session_group, staff_group, tutor_group

STATUS_VERBS = {
    BookingStatus.CONFIRMED: "confirmed",
    BookingStatus.CANCELLED: "cancelled",
    BookingStatus.COMPLETED: "completed",
    BookingStatus.NO_SHOW: "marked as a no-show",
}


def take_seat(session_id: int, *, now: datetime) -> bool:
    """Take one seat if the session is open, not started and not full.

    One conditional UPDATE: two requests racing for the last seat cannot both see
    ``seats_taken < capacity`` (the row is locked by the first writer and re-checked by the second).
    """
    return (
        Session.objects.filter(
            pk=session_id,
            status=SessionStatus.OPEN,
            starts_at__gt=now,
            seats_taken__lt=F("capacity"),
        ).update(seats_taken=F("seats_taken") + 1)
        == 1
    )


def release_seats(session_id: int, count: int = 1) -> None:
    Session.objects.filter(pk=session_id).update(seats_taken=F("seats_taken") - count)


def change_status(
    booking: Booking,
    *,
    allowed: Iterable[str],
    to: str,
    now: datetime | None = None,
    **fields: Any,
) -> None:
    """Move ``booking`` to ``to`` only if the database still has it in one of ``allowed``.

    A compare-and-set on the status column: a confirmation and an expiry landing at the same
    instant cannot both win, so the seat is released exactly once or kept exactly once.
    """
    allowed = tuple(allowed)
    now = now or timezone.now()
    changes = {"status": to, "updated_at": now, **fields}
    if not Booking.objects.filter(pk=booking.pk, status__in=allowed).update(**changes):
        current = Booking.objects.values_list("status", flat=True).get(pk=booking.pk)
        booking.status = current
        raise InvalidTransition(
            f"Booking {booking.reference} is {BookingStatus(current).label.lower()}: "
            f"it cannot be {STATUS_VERBS.get(to, to)}."
        )
    for name, value in changes.items():
        setattr(booking, name, value)


def log_event(
    booking: Booking, action: str, *, actor: Any = None, **data: Any
) -> BookingEvent:
    return BookingEvent.objects.create(
        booking=booking, action=action, actor=_actor(actor), data=data
    )


def _actor(actor: Any) -> Any:
    return (
        actor if actor is not None and getattr(actor, "pk", None) is not None else None
    )


def booking_payload(booking: Booking, **extra: Any) -> dict[str, Any]:
    session = booking.session
    local = timezone.localtime(session.starts_at)
    student = booking.student
    data = {
        "booking": booking.pk,
        "reference": booking.reference,
        "status": booking.status,
        "session": session.pk,
        "product": session.product.name,
        "starts_at": session.starts_at.isoformat(),
        "student": str(student),
        "summary": f"{booking.reference} · {student} · {session.product.name}, {local:%a %d %b %H:%M}",
    }
    data.update(extra)
    return data


def slot_payload(session_id: int) -> dict[str, Any]:
    row = Session.objects.values("capacity", "seats_taken", "status").get(pk=session_id)
    return {
        "session": session_id,
        "capacity": row["capacity"],
        "seats_taken": row["seats_taken"],
        "seats_left": max(row["capacity"] - row["seats_taken"], 0),
        "status": row["status"],
    }


def booking_groups(session: Session) -> list[str]:
    groups = [staff_group(), session_group(session.pk)]
    if session.tutor_id:
        groups.append(tutor_group(session.tutor.user_id))
    return groups


def booking_recipients(session: Session) -> list[int]:
    return [session.tutor.user_id] if session.tutor_id else []


def publish_booking(type: str, booking: Booking, **extra: Any) -> None:
    session = booking.session
    publish(
        type,
        booking_payload(booking, **extra),
        groups=booking_groups(session),
        recipients=booking_recipients(session),
    )


def publish_slot(session_id: int) -> None:
    publish(
        "slot.updated",
        slot_payload(session_id),
        groups=[staff_group(), session_group(session_id)],
    )


def fresh(booking: Booking) -> Booking:
    """Re-read a booking with what the services need; callers may hold a stale instance."""
    return Booking.objects.select_related(
        "session__product", "session__tutor__user", "student"
    ).get(pk=booking.pk)
