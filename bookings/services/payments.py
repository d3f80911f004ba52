"""Recording money received, and what it does to the booking."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from backoffice.models import User
from bookings.errors import BookingNotAllowed
from bookings.models import (
    Booking,
    BookingAction,
    BookingStatus,
    CancelReason,
    Payment,
    PaymentProvider,
    PaymentStatus,
)
from bookings.reports import bump_dashboard_version
from bookings.selectors import amount_owed, paid_total
from bookings.services._common import change_status, fresh, log_event, publish_booking
from bookings.services.reminders import schedule_start_reminders
from bookings.services.seats import publish_slot, take_seat
from bookings.services.transitions import copy_state, mark_confirmed
from bookings.services.writes import save_fields
from realtime.events import GroupEvent, publish_later, staff_group

# The first two are bookings.selectors', the one definition of what is paid and owed.
__all__ = ["amount_owed", "move_payments", "paid_total", "pay_attempt", "record_payment"]


def record_payment(
    booking: Booking,
    *,
    provider: str,
    amount: Decimal | int | str,
    actor: User | None = None,
    provider_txn_id: str | None = None,
) -> Payment:
    """Record a paid payment. Once the price is covered a pending booking is confirmed.

    A payment above what the booking still owes (``amount_owed``) is refused with
    ``BookingNotAllowed``: cash posted twice, or by two desks at once, is taken once.
    A payment for a booking that expired re-books its seat if one is still free; otherwise the
    payment is kept, the booking stays cancelled and is flagged ``needs_refund`` for staff.
    Replaying the same provider transaction returns the payment already recorded. A provider
    transaction started online (``start_online_payment``: a Click Prepare, a Payme
    CreateTransaction) is that pending payment, now paid: for the amount it was started with.
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
    booking: Booking, *, provider: str, amount: Decimal, actor: User | None, provider_txn_id: str | None
) -> Payment:
    with transaction.atomic():
        # Lock the booking first: a payment must never be lost to a sweeper expiring the booking at
        # the same instant. Either we hold the lock (the sweeper's SKIP LOCKED passes this row by and
        # we confirm) or the sweeper committed first (we see the expiry and re-book or flag a refund).
        current = fresh(booking, lock=True)
        # Both checks below read under the lock: a second payment for this booking (the same
        # transaction delivered again, or cash posted by two desks at once) waits for the first to
        # commit and then sees it, so it is returned or refused rather than recorded twice.
        attempt = None
        if provider_txn_id and (existing := _already_recorded(current, provider, provider_txn_id)) is not None:
            if existing.status != PaymentStatus.PENDING:
                return _replayed(existing)
            attempt = existing  # started online, now paid
        payment = _take(
            current,
            provider=provider,
            amount=amount,
            owed=amount_owed(current),
            actor=actor,
            attempt=attempt,
            provider_txn_id=provider_txn_id,
        )
    copy_state(current, booking)
    return payment


def pay_attempt(
    attempt: Payment,
    *,
    booking: Booking,
    owed: Decimal,
    now: datetime | None = None,
    actor: User | None = None,
    **provider_fields: Any,
) -> Payment:
    """Pay a pending online attempt, in the transaction of a provider's callback that holds its booking.

    ``record_payment`` for the callbacks (Click Complete, Payme PerformTransaction), which have
    already locked the booking's row (``bookings.payments.core.find_booking``), found the attempt
    and read ``owed`` under that lock: the same rules without reading all of it again. The
    provider's bookkeeping (``provider_fields``, Payme's state and perform time) is written with the
    status, in one UPDATE; ``now`` is the time it is paid at, when the provider must be answered with
    it (Payme's ``perform_time``).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("pay_attempt() runs inside the callback's transaction, under the booking's lock.")
    if attempt.booking_id != booking.pk or attempt.status != PaymentStatus.PENDING:
        raise BookingNotAllowed(
            f"{attempt.get_provider_display()} transaction {attempt.provider_txn_id} is not pending."
        )
    return _take(
        booking,
        provider=attempt.provider,
        amount=attempt.amount,
        owed=owed,
        actor=actor,
        attempt=attempt,
        provider_txn_id=attempt.provider_txn_id,
        provider_fields=provider_fields,
        now=now,
    )


def _take(
    booking: Booking,
    *,
    provider: str,
    amount: Decimal,
    owed: Decimal,
    actor: User | None,
    attempt: Payment | None,
    provider_txn_id: str | None,
    provider_fields: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Payment:
    """The payment itself, on a booking locked by the caller, ``owed`` read under that lock."""
    if amount > owed:
        raise BookingNotAllowed(_overpaid_message(booking, amount=amount, owed=owed))
    now = now or timezone.now()
    if attempt is not None:
        payment = _complete_attempt(attempt, amount=amount, now=now, provider_fields=provider_fields or {})
    else:
        payment = Payment.objects.create(
            booking=booking,
            provider=provider,
            amount=amount,
            currency=booking.currency,
            status=PaymentStatus.PAID,
            provider_txn_id=provider_txn_id or None,
            performed_at=now,
            created_by=actor if getattr(actor, "pk", None) else None,
            created_at=now,
        )
    log_event(
        booking,
        "payment.received",
        actor=actor,
        payment=payment.pk,
        provider=provider,
        amount=str(amount),
    )
    covered = amount >= owed  # owed was read under the lock: no second sum needed
    status = booking.status
    if booking.status == BookingStatus.PENDING and covered:
        mark_confirmed(booking, actor=actor, via="payment", payment=payment.pk)
    elif booking.status == BookingStatus.CANCELLED:
        _after_late_payment(booking, actor=actor, covered=covered, payment=payment)
    _publish_received(payment, booking)
    if booking.status == status:
        # Money in changes revenue even when the booking's status does not (a change bumps it itself).
        bump_dashboard_version()
    return payment


def move_payments(old: Booking, new: Booking, *, actor: User | None = None) -> list[int]:
    """Move every payment of ``old`` to ``new`` and say so in both histories; returns the ids moved.

    One payment belongs to one booking, the live one: when a booking is rescheduled its money --
    paid, partly refunded, online attempts still pending, failed ones kept for the record -- goes
    with it, so it is counted once (for the booking holding the seat), a refund cancels that
    booking, and a provider's callback for an attempt started before the move pays it there.
    ``old`` gets ``payment.moved`` with ``to``, ``new`` gets it with ``from``, both with the payment
    ids and the net amount paid (``paid_total``). Nothing is written when ``old`` has no payments.

    Runs inside the caller's transaction, ``old``'s row locked (``reschedule``): every writer of a
    booking's money locks the booking first, so no payment lands on ``old`` after the move.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("move_payments() runs inside the transaction that holds the old booking's lock.")
    ids = list(Payment.objects.filter(booking=old).order_by("pk").values_list("pk", flat=True))
    if not ids:
        return ids
    amount = f"{paid_total(old):.2f}"  # as the payments' own amounts are written: "350000.00"
    Payment.objects.filter(pk__in=ids).update(booking=new)
    log_event(old, BookingAction.PAYMENT_MOVED, actor=actor, payments=ids, amount=amount, to=new.reference)
    log_event(new, BookingAction.PAYMENT_MOVED, actor=actor, payments=ids, amount=amount, **{"from": old.reference})
    return ids


def _publish_received(payment: Payment, booking: Booking) -> None:
    """``payment.received`` to the staff after commit; its envelope is built only then (no
    notification is stored for it: the staff group hears it live)."""
    data = {
        "payment": payment.pk,
        "booking": booking.pk,
        "reference": booking.reference,
        "provider": payment.provider,
        "amount": str(payment.amount),
        "currency": payment.currency,
        "booking_status": booking.status,
        "needs_refund": booking.needs_refund,
        "summary": f"{payment.amount:,.0f} {payment.currency} for {booking.reference} ({payment.provider})",
    }
    event: GroupEvent = ("payment.received", data, [staff_group()])
    publish_later(lambda: [event])


def _replayed(payment: Payment) -> Payment:
    """The same transaction again: its payment if it was paid; a cancelled attempt takes no money."""
    if payment.status in (PaymentStatus.CANCELLED, PaymentStatus.FAILED):
        raise BookingNotAllowed(
            f"{payment.get_provider_display()} transaction {payment.provider_txn_id} was "
            f"{payment.get_status_display().lower()}: it cannot be paid."
        )
    return payment


def _complete_attempt(attempt: Payment, *, amount: Decimal, now: datetime, provider_fields: dict[str, Any]) -> Payment:
    if amount != attempt.amount:
        raise BookingNotAllowed(
            f"{attempt.get_provider_display()} transaction {attempt.provider_txn_id} was started for "
            f"{attempt.amount:,.2f} {attempt.currency}, not {amount:,.2f}."
        )
    attempt.status = PaymentStatus.PAID
    attempt.performed_at = now
    for name, value in provider_fields.items():
        setattr(attempt, name, value)
    save_fields(attempt, ["status", "performed_at", *provider_fields])
    return attempt


def _overpaid_message(booking: Booking, *, amount: Decimal, owed: Decimal) -> str:
    if not owed:
        return f"Booking {booking.reference} is already paid: nothing is owed."
    return (
        f"Booking {booking.reference}: only {owed:,.0f} {booking.currency} is still owed, "
        f"so {amount:,.0f} {booking.currency} cannot be taken."
    )


def _after_late_payment(booking: Booking, *, actor: User | None, covered: bool, payment: Payment) -> None:
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


def _reinstate(booking: Booking, *, actor: User | None, payment: Payment) -> bool:
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
