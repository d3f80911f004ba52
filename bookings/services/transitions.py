"""Status changes of an existing booking: confirm, cancel, reschedule, complete, no-show."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.errors import AlreadyBooked, BookingNotAllowed, InvalidTransition
from bookings.models import SEAT_HOLDING, Booking, BookingStatus, CancelReason, Session
from bookings.models.tutors import FREE_CANCELLATION_CUTOFF, CancellationPolicy
from bookings.services._common import (
    change_status,
    fresh,
    log_event,
    publish_booking,
    publish_slot,
    release_seats,
)
from bookings.services.booking import _book, _is_active_booking_violation
from bookings.services.reminders import (
    cancel_payment_reminders,
    cancel_pending_reminders,
    schedule_start_reminders,
)


def confirm(booking: Booking, *, actor: Any = None) -> Booking:
    with transaction.atomic():
        current = fresh(booking)
        _confirm(current, actor=actor, via="staff" if actor is not None else "system")
    _copy_state(current, booking)
    return current


def _confirm(booking: Booking, *, actor: Any, via: str, **data: Any) -> None:
    now = timezone.now()
    change_status(
        booking,
        allowed=[BookingStatus.PENDING],
        to=BookingStatus.CONFIRMED,
        now=now,
        confirmed_at=now,
        expires_at=None,
    )
    log_event(booking, "booking.confirmed", actor=actor, via=via, **data)
    cancel_payment_reminders([booking.pk])
    schedule_start_reminders(booking, now=now)
    publish_booking("booking.confirmed", booking, via=via, **data)


def cancellation_policy(session: Session) -> str:
    if session.tutor_id:
        return session.tutor.cancellation_policy
    return getattr(settings, "DEFAULT_CANCELLATION_POLICY", CancellationPolicy.MODERATE)


def free_cancellation_until(session: Session) -> datetime:
    """Latest moment a student may cancel this session's booking under its policy."""
    return session.starts_at - FREE_CANCELLATION_CUTOFF[CancellationPolicy(cancellation_policy(session))]


def cancel(
    booking: Booking, *, reason: str, actor: Any = None, override_policy: bool = False, note: str = ""
) -> Booking:
    """Cancel a pending or confirmed booking and release its seat.

    A student's cancellation after the free-cancellation cut-off of the policy is refused unless
    a member of staff overrides it (``override_policy=True``); the override is kept in the history,
    and so is ``note`` (what the student said on the phone, say).
    """
    if reason not in CancelReason.values:
        raise BookingNotAllowed(f"“{reason}” is not a cancellation reason.")
    with transaction.atomic():
        current = fresh(booking)
        data: dict[str, Any] = {}
        if reason == CancelReason.EXPIRED and current.status in SEAT_HOLDING and not current.is_expired:
            # Expiry is the system's verdict on an unpaid deadline, not a reason staff can pick.
            raise BookingNotAllowed(f"Booking {current.reference} has not passed its payment deadline.")
        if reason == CancelReason.STUDENT and current.status in SEAT_HOLDING:
            data = _check_policy(current, actor=actor, override=override_policy)
        if note.strip():
            data["note"] = note.strip()
        _cancel(current, reason=reason, actor=actor, **data)
        event = "booking.expired" if reason == CancelReason.EXPIRED else "booking.cancelled"
        publish_booking(event, current, reason=reason)
        publish_slot(current.session_id)
    _copy_state(current, booking)
    return current


def _check_policy(booking: Booking, *, actor: Any, override: bool) -> dict[str, Any]:
    session = booking.session
    policy = cancellation_policy(session)
    cutoff = free_cancellation_until(session)
    if timezone.now() <= cutoff:
        return {"policy": policy}
    if not override:
        raise BookingNotAllowed(
            f"Free cancellation under the {policy} policy ended at {timezone.localtime(cutoff):%d %b %H:%M}. "
            "Staff can override the policy."
        )
    if actor is None or not getattr(actor, "is_staff", False):
        raise BookingNotAllowed("Only staff can override the cancellation policy.")
    return {"policy": policy, "late": True, "policy_overridden": True}


def _cancel(booking: Booking, *, reason: str, actor: Any, **data: Any) -> None:
    now = timezone.now()
    change_status(
        booking,
        allowed=SEAT_HOLDING,
        to=BookingStatus.CANCELLED,
        now=now,
        cancel_reason=reason,
        cancelled_at=now,
    )
    release_seats(booking.session_id)
    cancel_pending_reminders([booking.pk])
    action = "booking.expired" if reason == CancelReason.EXPIRED else "booking.cancelled"
    log_event(booking, action, actor=actor, reason=reason, **data)


def reschedule(booking: Booking, *, to_session: Session, actor: Any = None) -> Booking:
    """Move a booking to another session in one transaction; returns the new booking.

    The old booking is cancelled (reason rescheduled) and a new one holds a seat in ``to_session``,
    keeping status, price and payment deadline. If the target has no seat, nothing changes.
    """
    try:
        with transaction.atomic():
            old = fresh(booking)
            if old.status not in SEAT_HOLDING:
                raise InvalidTransition(
                    f"Booking {old.reference} is {old.get_status_display().lower()}: it cannot be rescheduled."
                )
            if to_session.pk == old.session_id:
                raise BookingNotAllowed(f"Booking {old.reference} is already in that session.")
            if to_session.product_id != old.session.product_id:
                # The price and the payment were for this product; a different one is a new booking.
                raise BookingNotAllowed(
                    f"Booking {old.reference} is for {old.session.product}: it can only move to another "
                    f"{old.session.product} session."
                )
            previous_status, previous_expiry = old.status, old.expires_at
            _cancel(old, reason=CancelReason.RESCHEDULED, actor=actor)
            new = _book(
                session_id=to_session.pk,
                student=old.student,
                payment_method=old.payment_method,
                actor=actor,
                source=old.source,
                rescheduled_from=old,
                keep_status=previous_status,
                keep_expires_at=previous_expiry,
            )
            log_event(
                old,
                "booking.rescheduled",
                actor=actor,
                to=new.reference,
                to_session=to_session.pk,
            )
            publish_booking(
                "booking.rescheduled",
                new,
                from_reference=old.reference,
                from_session=old.session_id,
            )
            publish_slot(old.session_id)
    except IntegrityError as exc:
        if _is_active_booking_violation(exc):
            raise AlreadyBooked(f"{booking.student} already has a booking for that session.") from exc
        raise
    _copy_state(old, booking)
    to_session.seats_taken = new.session.seats_taken
    return new


def complete(booking: Booking, *, actor: Any = None) -> Booking:
    """A confirmed booking whose session has started (or that has a result) becomes completed."""
    with transaction.atomic():
        current = fresh(booking)
        if current.status == BookingStatus.CONFIRMED and not (current.session.has_started or current.has_result):
            raise BookingNotAllowed(f"{current.session} has not started yet: the booking cannot be completed.")
        _finish(current, to=BookingStatus.COMPLETED, actor=actor, action="booking.completed")
    _copy_state(current, booking)
    return current


def mark_no_show(booking: Booking, *, actor: Any = None) -> Booking:
    with transaction.atomic():
        current = fresh(booking)
        if current.status == BookingStatus.CONFIRMED and not current.session.has_started:
            raise BookingNotAllowed(f"{current.session} has not started yet: nobody can be a no-show.")
        _finish(current, to=BookingStatus.NO_SHOW, actor=actor, action="booking.no_show")
    _copy_state(current, booking)
    return current


def _finish(booking: Booking, *, to: str, actor: Any, action: str, **data: Any) -> None:
    # Only pending and confirmed bookings hold a seat, so finishing one frees its count.
    change_status(booking, allowed=[BookingStatus.CONFIRMED], to=to)
    release_seats(booking.session_id)
    cancel_pending_reminders([booking.pk])
    log_event(booking, action, actor=actor, **data)
    publish_booking(action, booking, **data)
    publish_slot(booking.session_id)


def _copy_state(source: Booking, target: Booking) -> None:
    """Let a caller's instance reflect what the service wrote."""
    if source is target:
        return
    for field in (
        "status",
        "cancel_reason",
        "expires_at",
        "confirmed_at",
        "cancelled_at",
        "needs_refund",
        "updated_at",
    ):
        setattr(target, field, getattr(source, field))
