from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.errors import AlreadyBooked, BookingNotAllowed, SessionFull
from bookings.models import (
    Booking,
    BookingSource,
    BookingStatus,
    PaymentMethod,
    Session,
    SessionStatus,
)
from bookings.services._common import (
    insert_booking,
    publish_booking,
    publish_slot,
    read_session,
    take_seat,
)
from bookings.services.reminders import schedule_start_reminders

ACTIVE_BOOKING_CONSTRAINT = "booking_one_active_per_student_session"


def book(
    *,
    session: Session,
    student: Any,
    payment_method: str = PaymentMethod.CASH,
    actor: Any = None,
    source: str = BookingSource.ADMIN,
) -> Booking:
    """Hold a seat for ``student`` in ``session``.

    Free products and tutors with auto-confirm confirm at once; otherwise the booking is pending
    until paid, and expires after the product's payment window.
    """
    if payment_method not in PaymentMethod.values:
        raise BookingNotAllowed(f"“{payment_method}” is not a payment method.")
    try:
        with transaction.atomic():
            booking = _book(
                session_id=session.pk,
                student=student,
                payment_method=payment_method,
                actor=actor,
                source=source,
            )
    except IntegrityError as exc:
        # The partial unique index on (student, session) for seat-holding bookings decides this,
        # also between two concurrent requests; the booking INSERT comes before the seat UPDATE.
        if _is_active_booking_violation(exc):
            raise AlreadyBooked(f"{student} already has a booking for this session.") from exc
        raise
    session.seats_taken = booking.session.seats_taken
    return booking


def _book(
    *,
    session_id: int,
    student: Any,
    payment_method: str,
    actor: Any,
    source: str,
    rescheduled_from: Booking | None = None,
    keep_status: str | None = None,
    keep_expires_at: datetime | None = None,
) -> Booking:
    now = timezone.now()
    # With product and tutor, not tutor__user: the tutor's user id is on the tutor row, and every
    # booker of a popular session pays for each column this read builds.
    session = read_session(session_id)
    check_bookable(session, now=now)
    product = session.product
    if keep_status is not None:
        status = keep_status
        auto_reason = None
    elif product.is_free:
        status, auto_reason = BookingStatus.CONFIRMED, "free"
    elif session.tutor_id and session.tutor.auto_confirm:
        status, auto_reason = BookingStatus.CONFIRMED, "auto_confirm"
    else:
        status, auto_reason = BookingStatus.PENDING, None

    expires_at = None
    if status == BookingStatus.PENDING:
        # An unpaid seat is released after the payment window, and never later than the start.
        expires_at = min(keep_expires_at or now + timedelta(hours=product.payment_window_hours), session.starts_at)
    booking = Booking(
        student=student,
        session=session,
        status=status,
        payment_method=payment_method,
        price=product.price if rescheduled_from is None else rescheduled_from.price,
        currency=product.currency,
        expires_at=expires_at,
        confirmed_at=now if status == BookingStatus.CONFIRMED else None,
        rescheduled_from=rescheduled_from,
        source=source,
        created_by=actor if getattr(actor, "pk", None) else None,
        created_at=now,
    )
    created = {
        "session": session.pk,
        "source": source,
        "price": str(booking.price),
        "payment_method": payment_method,
        **({"rescheduled_from": rescheduled_from.reference} if rescheduled_from else {}),
    }
    history = [("booking.created", actor, created)]
    if auto_reason:
        history.append(("booking.confirmed", actor, {"via": auto_reason}))
    insert_booking(booking, history, now=now)
    if status == BookingStatus.CONFIRMED:
        schedule_start_reminders(booking, now=now)
    if rescheduled_from is None:
        publish_booking("booking.created", booking)
        if auto_reason:
            publish_booking("booking.confirmed", booking, via=auto_reason)
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


def _is_active_booking_violation(exc: IntegrityError) -> bool:
    text = str(exc)
    return ACTIVE_BOOKING_CONSTRAINT in text or (
        "UNIQUE constraint failed" in text and "bookings_booking.student_id, bookings_booking.session_id" in text
    )
