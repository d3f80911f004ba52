"""Shared pieces of the booking services: seat counting, guarded status changes, history, events.

Private to ``bookings.services``; everything else calls the public service functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F
from django.utils import timezone

from bookings.errors import InvalidTransition
from bookings.models import Booking, BookingEvent, BookingStatus, Session, SessionStatus
from bookings.reports import bump_dashboard_version
from realtime.events import publish, session_group, staff_group, tutor_group

STATUS_VERBS = {
    BookingStatus.CONFIRMED: "confirmed",
    BookingStatus.CANCELLED: "cancelled",
    BookingStatus.COMPLETED: "completed",
    BookingStatus.NO_SHOW: "marked as a no-show",
}


def take_seat(session_id: int, *, now: datetime) -> dict[str, Any] | None:
    """Take one seat if the session is open, not started and not full; return its new counts.

    One conditional UPDATE: two requests racing for the last seat cannot both see
    ``seats_taken < capacity`` (the first writer locks the row, the second re-checks it after the
    first commits). ``RETURNING`` hands back the counts so no second read is needed while the
    row is locked. Returns None when no seat was taken.
    """
    table = connection.ops.quote_name(Session._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET seats_taken = seats_taken + 1 "
            "WHERE id = %s AND status = %s AND starts_at > %s AND seats_taken < capacity "
            "RETURNING capacity, seats_taken, status",
            [session_id, SessionStatus.OPEN, now],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    capacity, seats_taken, status = row
    return slot_data(session_id, capacity=capacity, seats_taken=seats_taken, status=status)


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


def log_event(booking: Booking, action: str, *, actor: Any = None, **data: Any) -> BookingEvent:
    return BookingEvent.objects.create(booking=booking, action=action, actor=_actor(actor), data=data)


def _actor(actor: Any) -> Any:
    return actor if actor is not None and getattr(actor, "pk", None) is not None else None


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


def slot_data(session_id: int, *, capacity: int, seats_taken: int, status: str) -> dict[str, Any]:
    """The ``slot.updated`` payload."""
    return {
        "session": session_id,
        "capacity": capacity,
        "seats_taken": seats_taken,
        "seats_left": max(capacity - seats_taken, 0),
        "status": status,
    }


def slot_payload(session_id: int) -> dict[str, Any]:
    row = Session.objects.values("capacity", "seats_taken", "status").get(pk=session_id)
    return slot_data(session_id, **row)


def booking_groups(session: Session) -> list[str]:
    groups = [staff_group(), session_group(session.pk)]
    if session.tutor_id:
        groups.append(tutor_group(session.tutor.user_id))
    return groups


def booking_recipients(session: Session) -> list[int]:
    return [session.tutor.user_id] if session.tutor_id else []


def publish_booking(type: str, booking: Booking, **extra: Any) -> None:
    bump_dashboard_version()
    session = booking.session
    publish(
        type,
        booking_payload(booking, **extra),
        groups=booking_groups(session),
        recipients=booking_recipients(session),
    )


def publish_slot(session_id: int, payload: dict[str, Any] | None = None) -> None:
    bump_dashboard_version()
    payload = payload or slot_payload(session_id)
    publish("slot.updated", payload, groups=[staff_group(), session_group(session_id)])


def fresh(booking: Booking, *, lock: bool = False) -> Booking:
    """Re-read a booking with what the services need; callers may hold a stale instance.

    ``lock=True`` takes the booking's row lock for the rest of the transaction (PostgreSQL; SQLite
    transactions are serialised anyway), so what is read cannot change before it is acted on.
    """
    query = Booking.objects.select_related("session__product", "session__tutor__user", "student")
    if lock:
        query = query.select_for_update(of=("self",))
    return query.get(pk=booking.pk)
