"""Shared pieces of the booking services: guarded status changes, history, event payloads.

Private to ``bookings.services``; everything else calls the public service functions. Seats are
``bookings.services.seats``'s, transitions ``bookings.services.state_machine``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from backoffice.models import User
from bookings.errors import InvalidTransition
from bookings.models import Booking, BookingEvent, BookingStatus, Session
from bookings.reports import bump_dashboard_version
from bookings.selectors import app_users
from bookings.services.seats import publish_slot, slot_data, slot_payload, take_seat
from bookings.services.writes import insert
from realtime.events import publish, session_group, staff_group, student_group, tutor_group

# Seats moved to bookings.services.seats; these names stay importable from here until every
# caller imports them from there.
__all__ = ["publish_slot", "slot_data", "slot_payload", "take_seat"]

STATUS_VERBS = {
    BookingStatus.CONFIRMED: "confirmed",
    BookingStatus.CANCELLED: "cancelled",
    BookingStatus.COMPLETED: "completed",
    BookingStatus.NO_SHOW: "marked as a no-show",
}


def refusal(booking: Booking, to: str) -> InvalidTransition:
    """The error for a booking whose status does not allow the move to ``to``."""
    return InvalidTransition(
        f"Booking {booking.reference} is {BookingStatus(booking.status).label.lower()}: "
        f"it cannot be {STATUS_VERBS.get(to, to)}."
    )


def change_status(
    booking: Booking,
    *,
    allowed: Iterable[str],
    to: str,
    now: datetime | None = None,
    **fields: Any,
) -> None:
    """Move ``booking`` to ``to`` only if the database still has it in one of ``allowed``: a
    compare-and-set for the one change that is no transition of the state machine (a late payment
    reinstating an expired booking, ``services.payments``)."""
    changes = {"status": to, "updated_at": now or timezone.now(), **fields}
    if not Booking.objects.filter(pk=booking.pk, status__in=tuple(allowed)).update(**changes):
        booking.status = Booking.objects.values_list("status", flat=True).get(pk=booking.pk)
        raise refusal(booking, to)
    for name, value in changes.items():
        setattr(booking, name, value)


def log_event(booking: Booking, action: str, *, actor: User | None = None, **data: Any) -> BookingEvent:
    return insert([BookingEvent(booking=booking, action=action, actor=known_actor(actor), data=data)])[0]


def known_actor(actor: User | AnonymousUser | None) -> User | None:
    """The person to record as having acted: None for the system, or anyone not saved (anonymous)."""
    return actor if actor is not None and actor.pk is not None else None


def booking_payload(booking: Booking, **extra: Any) -> dict[str, Any]:
    """The ``booking.*`` event payload of a loaded booking (session, product and student)."""
    session = booking.session
    return payload(
        booking_id=booking.pk,
        reference=booking.reference,
        status=booking.status,
        session_id=session.pk,
        starts_at=session.starts_at,
        product=session.product.name,
        student=str(booking.student),
        **extra,
    )


def payload(
    *,
    booking_id: int,
    reference: str,
    status: str,
    session_id: int,
    starts_at: datetime,
    product: str,
    student: str,
    **extra: Any,
) -> dict[str, Any]:
    """The ``booking.*`` event payload: one shape for every booking event, one booking or a sweep's."""
    local = timezone.localtime(starts_at)
    data = {
        "booking": booking_id,
        "reference": reference,
        "status": status,
        "session": session_id,
        "product": product,
        "starts_at": starts_at.isoformat(),
        "student": student,
        "summary": f"{reference} · {student} · {product}, {local:%a %d %b %H:%M}",
    }
    data.update(extra)
    return data


def booking_groups(session: Session, student_id: int | None = None) -> list[str]:
    return groups_of(session.pk, session.tutor.user_id if session.tutor_id else None, student_id)


def groups_of(session_id: int, tutor_user_id: int | None, student_id: int | None = None) -> list[str]:
    """Who hears of a booking: the staff, whoever watches its session, its tutor and its student."""
    groups = [staff_group(), session_group(session_id)]
    if tutor_user_id is not None:
        groups.append(tutor_group(tutor_user_id))
    if student_id is not None:
        groups.append(student_group(student_id))  # the student's app hears their own booking
    return groups


def recipients_of(tutor_user_id: int | None, student_id: int | None, *, app_users: Set[int]) -> list[int]:
    """Whose notifications store a booking event: its tutor's, and its student's if the student
    uses the app (``selectors.app_users``): a bell nobody can open is not filled. Every student
    still hears their events live on the app's socket."""
    student = student_id if student_id in app_users else None
    return [pk for pk in (tutor_user_id, student) if pk is not None]


def booking_recipients(session: Session, student_id: int | None = None) -> list[int]:
    readers = app_users([student_id]) if student_id is not None else set()
    return recipients_of(session.tutor.user_id if session.tutor_id else None, student_id, app_users=readers)


def publish_booking(type: str, booking: Booking, **extra: Any) -> None:
    bump_dashboard_version()
    session = booking.session
    publish(
        str(type),  # a BookingAction is its dotted value
        booking_payload(booking, **extra),
        groups=booking_groups(session, booking.student_id),
        recipients=booking_recipients(session, booking.student_id),
    )


def fresh(booking: Booking, *, lock: bool = False) -> Booking:
    """Re-read a booking with what the services need; callers may hold a stale instance.

    ``lock=True`` takes the booking's row lock for the rest of the transaction (PostgreSQL; SQLite
    transactions are serialised anyway), so what is read cannot change before it is acted on.
    """
    query = Booking.objects.select_related("session__product", "session__tutor__user", "student")
    if lock:
        query = query.select_for_update(of=("self",))
    return query.get(pk=booking.pk)
