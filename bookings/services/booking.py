"""Making a booking: ``book()``, and ``_book`` which reschedule shares."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from backoffice.models import User
from bookings.errors import AlreadyBooked, BookingNotAllowed, SessionFull
from bookings.models import (
    Booking,
    BookingAction,
    BookingEvent,
    BookingSource,
    BookingStatus,
    PaymentMethod,
    Session,
    SessionStatus,
)
from bookings.services import sql
from bookings.services._common import known_actor, publish_booking
from bookings.services.reminders import schedule_start_reminders
from bookings.services.seats import publish_slot, take_seat

ACTIVE_BOOKING_CONSTRAINT = "booking_one_active_per_student_session"


def book(
    *,
    session: Session,
    student: User,
    payment_method: str = PaymentMethod.CASH,
    actor: User | None = None,
    source: str = BookingSource.ADMIN,
) -> Booking:
    """Hold a seat for ``student`` in ``session``.

    How the booking starts -- confirmed at once (free product, tutor with auto-confirm) or pending
    until paid with a payment deadline -- is ``Booking.initial_state``'s decision.
    """
    if payment_method not in PaymentMethod.values:
        raise BookingNotAllowed(f"“{payment_method}” is not a payment method.")
    try:
        with transaction.atomic():
            booking = book_into(
                session_id=session.pk,
                student=student,
                payment_method=payment_method,
                actor=actor,
                source=source,
            )
    except IntegrityError as exc:
        # The partial unique index on (student, session) for seat-holding bookings decides this,
        # also between two concurrent requests; the booking INSERT comes before the seat UPDATE.
        if is_active_booking_violation(exc):
            raise AlreadyBooked(f"{student} already has a booking for this session.") from exc
        raise
    session.seats_taken = booking.session.seats_taken
    return booking


def book_into(
    *,
    session_id: int,
    student: User,
    payment_method: str,
    actor: User | None,
    source: str,
    rescheduled_from: Booking | None = None,
    keep_status: str | None = None,
    keep_expires_at: datetime | None = None,
) -> Booking:
    """``book()``'s work inside the caller's transaction; a reschedule passes the booking it
    replaces, whose status, deadline and price the new one keeps (and announces it itself)."""
    now = timezone.now()
    # The session with its product and tutor (not tutor__user: the tutor's user id is on the tutor
    # row), in one raw SELECT on PostgreSQL: every booker of a popular session pays for this read.
    session = sql.read_session(session_id)
    check_bookable(session, now=now)
    state = Booking.initial_state(session, now=now, keep_status=keep_status, keep_expires_at=keep_expires_at)
    who = known_actor(actor)
    booking = Booking(
        student=student,
        session=session,
        status=state.status,
        payment_method=payment_method,
        price=session.product.price if rescheduled_from is None else rescheduled_from.price,
        currency=session.product.currency,
        expires_at=state.expires_at,
        confirmed_at=state.confirmed_at,
        rescheduled_from=rescheduled_from,
        source=source,
        created_by=who,
        created_at=now,
    )
    booking.save(force_insert=True)
    BookingEvent.objects.bulk_create(creation_history(booking, state.confirmed_via, actor=who, now=now))
    if state.status == BookingStatus.CONFIRMED:
        schedule_start_reminders(booking, now=now)
    if rescheduled_from is None:
        publish_booking(BookingAction.CREATED, booking)
        if state.confirmed_via:
            publish_booking(BookingAction.CONFIRMED, booking, via=state.confirmed_via)
    # The seat is taken last, so the session row -- the one every booker of this session
    # contends for -- stays locked only from this UPDATE to COMMIT. If it fails, everything
    # above rolls back with the exception.
    slot = take_seat(session.pk, now=now)
    if slot is None:
        session.refresh_from_db(fields=["status", "seats_taken", "capacity", "starts_at"])
        check_bookable(session, now=now)  # it may have been closed or cancelled meanwhile
        raise SessionFull(f"{session} is full: all {session.capacity} seats are taken.")
    session.seats_taken = slot["seats_taken"]
    # publish_booking() above already bumped the dashboard version for this transaction.
    publish_slot(session.pk, slot, bump=rescheduled_from is not None)
    return booking


def creation_history(
    booking: Booking, confirmed_via: str | None, *, actor: User | None, now: datetime
) -> list[BookingEvent]:
    """A new booking's first history rows: ``booking.created``, and ``booking.confirmed`` when it
    is confirmed at once. ``book()`` and the bulk import both write these."""
    created = {
        "session": booking.session_id,
        "source": booking.source,
        "price": f"{booking.price:.2f}",  # as the database gives it back: "350000.00"
        "payment_method": booking.payment_method,
    }
    if booking.rescheduled_from is not None:
        created["rescheduled_from"] = booking.rescheduled_from.reference
    actor_id = actor.pk if actor is not None else None
    rows = [
        BookingEvent(
            booking_id=booking.pk, action=BookingAction.CREATED, actor_id=actor_id, data=created, created_at=now
        )
    ]
    if confirmed_via:
        rows.append(
            BookingEvent(
                booking_id=booking.pk,
                action=BookingAction.CONFIRMED,
                actor_id=actor_id,
                data={"via": confirmed_via},
                created_at=now,
            )
        )
    return rows


def check_bookable(session: Session, *, now: datetime) -> None:
    if session.status == SessionStatus.CANCELLED:
        raise BookingNotAllowed(f"{session} is cancelled.")
    if session.status == SessionStatus.CLOSED:
        raise BookingNotAllowed(f"{session} is closed for booking.")
    if session.starts_at <= now:
        raise BookingNotAllowed(f"{session} has already started.")
    if session.tutor_id and session.starts_at - now < session.tutor.min_notice:
        raise BookingNotAllowed(
            f"{session.tutor} needs {session.tutor.min_notice_hours} hours' notice: "
            f"this session starts too soon to book."
        )


def is_active_booking_violation(exc: IntegrityError) -> bool:
    """Whether ``exc`` is the one-active-booking-per-student-and-session constraint refusing."""
    text = str(exc)
    return ACTIVE_BOOKING_CONSTRAINT in text or (
        "UNIQUE constraint failed" in text and "bookings_booking.student_id, bookings_booking.session_id" in text
    )
