"""Recording money received, and what it does to the booking."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from bookings.errors import BookingNotAllowed
from bookings.models import (
    Booking,
    BookingStatus,
    CancelReason,
    Payment,
    PaymentProvider,
    PaymentStatus,
)
from bookings.reports import bump_dashboard_version
from bookings.services._common import (
    change_status,
    fresh,
    log_event,
    publish_booking,
    publish_slot,
    take_seat,
)
from bookings.services.reminders import schedule_start_reminders
from bookings.services.transitions import _confirm, _copy_state
from realtime.events import publish, staff_group


def paid_total(booking: Booking) -> Decimal:
    """Money received for this booking and the bookings it was rescheduled from."""
    ids = [booking.pk]
    previous = booking.rescheduled_from_id
    while previous is not None and len(ids) < 50:
        ids.append(previous)
        previous = Booking.objects.filter(pk=previous).values_list("rescheduled_from_id", flat=True).first()
    total = Payment.objects.filter(booking_id__in=ids, status=PaymentStatus.PAID).aggregate(total=Sum("amount"))[
        "total"
    ]
    return total or Decimal(0)


def record_payment(
    booking: Booking,
    *,
    provider: str,
    amount: Decimal | int | str,
    actor: Any = None,
    provider_txn_id: str | None = None,
) -> Payment:
    """Record a paid payment. Once the price is covered a pending booking is confirmed.

    A payment for a booking that expired re-books its seat if one is still free; otherwise the
    payment is kept, the booking stays cancelled and is flagged ``needs_refund`` for staff.
    Replaying the same provider transaction returns the payment already recorded.
    """
    if provider not in PaymentProvider.values:
        raise BookingNotAllowed(f"“{provider}” is not a payment provider.")
    try:
        amount = Decimal(str(amount))
    except InvalidOperation as exc:
        raise BookingNotAllowed(f"“{amount}” is not an amount of money.") from exc
    if not amount.is_finite() or amount <= 0:
        raise BookingNotAllowed("A payment must be a positive amount.")

    try:
        return _record_payment(booking, provider=provider, amount=amount, actor=actor, provider_txn_id=provider_txn_id)
    except IntegrityError:
        # The same provider transaction delivered twice at once: the other delivery recorded it.
        if provider_txn_id and (existing := _already_recorded(booking, provider, provider_txn_id)) is not None:
            return existing
        raise


def _already_recorded(booking: Booking, provider: str, provider_txn_id: str) -> Payment | None:
    existing = Payment.objects.filter(provider=provider, provider_txn_id=provider_txn_id).first()
    if existing is not None and existing.booking_id != booking.pk:
        raise BookingNotAllowed(f"{provider} transaction {provider_txn_id} belongs to another booking.")
    return existing


def _record_payment(
    booking: Booking, *, provider: str, amount: Decimal, actor: Any, provider_txn_id: str | None
) -> Payment:
    with transaction.atomic():
        if provider_txn_id and (existing := _already_recorded(booking, provider, provider_txn_id)) is not None:
            return existing
        # Lock the booking first: a payment must never be lost to a sweeper expiring the booking at
        # the same instant. Either we hold the lock (the sweeper's SKIP LOCKED passes this row by and
        # we confirm) or the sweeper committed first (we see the expiry and re-book or flag a refund).
        current = fresh(booking, lock=True)
        now = timezone.now()
        payment = Payment.objects.create(
            booking=current,
            provider=provider,
            amount=amount,
            currency=current.currency,
            status=PaymentStatus.PAID,
            provider_txn_id=provider_txn_id or None,
            performed_at=now,
            created_by=actor if getattr(actor, "pk", None) else None,
            created_at=now,
        )
        log_event(
            current,
            "payment.received",
            actor=actor,
            payment=payment.pk,
            provider=provider,
            amount=str(amount),
        )
        covered = paid_total(current) >= current.price
        if current.status == BookingStatus.PENDING and covered:
            _confirm(current, actor=actor, via="payment", payment=payment.pk)
        elif current.status == BookingStatus.CANCELLED:
            _after_late_payment(current, actor=actor, covered=covered, payment=payment)
        publish(
            "payment.received",
            {
                "payment": payment.pk,
                "booking": current.pk,
                "reference": current.reference,
                "provider": provider,
                "amount": str(amount),
                "currency": payment.currency,
                "booking_status": current.status,
                "needs_refund": current.needs_refund,
                "summary": f"{amount:,.0f} {payment.currency} for {current.reference} ({provider})",
            },
            groups=[staff_group()],
        )
        bump_dashboard_version()  # money in changes revenue even when the booking's status does not
    _copy_state(current, booking)
    return payment


def _after_late_payment(booking: Booking, *, actor: Any, covered: bool, payment: Payment) -> None:
    if covered and booking.cancel_reason == CancelReason.EXPIRED and _reinstate(booking, actor=actor, payment=payment):
        return
    Booking.objects.filter(pk=booking.pk).update(needs_refund=True, updated_at=timezone.now())
    booking.needs_refund = True
    log_event(
        booking,
        "booking.refund_due",
        actor=actor,
        payment=payment.pk,
        reason="no seat for a late payment",
    )


def _reinstate(booking: Booking, *, actor: Any, payment: Payment) -> bool:
    """Give an expired booking its seat back, if the session still has one."""
    now = timezone.now()
    try:
        with transaction.atomic():
            slot = take_seat(booking.session_id, now=now)
            if slot is None:
                return False
            change_status(
                booking,
                allowed=[BookingStatus.CANCELLED],
                to=BookingStatus.CONFIRMED,
                now=now,
                cancel_reason="",
                cancelled_at=None,
                confirmed_at=now,
                expires_at=None,
            )
    except IntegrityError:
        # The student booked this session again meanwhile: the new booking keeps the seat.
        return False
    log_event(
        booking,
        "booking.confirmed",
        actor=actor,
        via="payment",
        reinstated=True,
        payment=payment.pk,
    )
    schedule_start_reminders(booking, now=now)
    publish_booking("booking.confirmed", booking, via="payment", reinstated=True)
    publish_slot(booking.session_id, slot)
    return True
