"""Online payments and refunds: an attempt a provider starts, its end without money, money returned.

A provider's transaction becomes a ``pending`` Payment when the provider first calls (Click
Prepare, Payme CreateTransaction: ``start_online_payment``); ``record_payment`` with the same
``provider_txn_id`` pays it, ``cancel_payment_attempt`` ends it without money. ``refund`` returns
money of any paid payment, cash or online; sending the money back is the cashier's or the
provider's part (a Click reversal, Payme's cabinet), recorded here.

Every write locks the booking's row first, as ``record_payment`` does, so everything that moves
money for one booking -- a provider's callback, its duplicate, a desk, a refund, a reschedule moving
its payments, the expiry sweep's SKIP LOCKED -- happens one at a time. A payment is always on the
live booking (a reschedule moves it), so the booking to lock is the payment's own: ``locked_payment``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache, partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Model, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from backoffice.models import User
from bookings.errors import BookingNotAllowed, InvalidTransition
from bookings.models import (
    SEAT_HOLDING,
    Booking,
    BookingStatus,
    CancelReason,
    Payment,
    PaymentProvider,
    PaymentStatus,
    Session,
)
from bookings.notify import SMSMessage, send_emails, send_sms
from bookings.reports import bump_dashboard_version
from bookings.selectors import (
    amount_owed,
    app_users,
    online_payment_refusal,
    paid_amount_expression,
    paid_total,
    service_delivered,
)
from bookings.selectors.compiled import CompiledRead, Instances
from bookings.services._common import fresh, log_event
from bookings.services.transitions import mark_cancelled
from realtime.events import publish, staff_group

logger = logging.getLogger(__name__)

ONLINE_PROVIDERS = (PaymentProvider.CLICK, PaymentProvider.PAYME)
PAYME_PERFORMED = 2  # Payme's state of a performed transaction (bookings.payments.payme)
# A payment's booking is read, locked, and the payment read again: each further pass follows a
# reschedule that moved it in between. More than a few in one callback is not a race but a bug.
LOCK_PASSES = 5
# What a service reads with a booking (``_common.fresh``), and the lighter read of the providers'
# callbacks: the booking and its session. Product, tutor and student load on the rare paths that
# need them (a late payment re-booking its seat, a refund's e-mail).
SERVICE_RELATED = ("session__product", "session__tutor__user", "student")
CALLBACK_RELATED = ("session",)
# The provider's own bookkeeping on a payment (see Payment); the only fields callers may set here.
PROVIDER_FIELDS = frozenset(
    {
        "provider_state",
        "provider_reason",
        "provider_time",
        "create_time",
        "perform_time",
        "cancel_time",
        "click_paydoc_id",
    }
)


def start_online_payment(
    booking: Booking,
    *,
    provider: str,
    amount: Decimal,
    provider_txn_id: str,
    holds_until: datetime,
    account: str = "",
    actor: User | None = None,
    **provider_fields: Any,
) -> Payment:
    """Record a provider's new transaction for ``booking`` as a pending payment; nothing is paid yet.

    Until ``holds_until`` the booking is not expired (the provider's own time limit: money may be
    on its way). ``account``: the reference the provider names the booking by, as it sent it
    (``provider_account``; the booking's reference when not given). Starting the same transaction
    again returns the payment already started.
    """
    if provider not in ONLINE_PROVIDERS:
        raise BookingNotAllowed(f"“{provider}” is not an online payment provider.")
    if not provider_txn_id:
        raise BookingNotAllowed("An online payment needs the provider's transaction id.")
    amount = _positive(amount)
    _check_fields(provider_fields)
    with transaction.atomic():
        current = fresh(booking, lock=True)
        existing = one_row(Payment.objects.filter(provider=provider, provider_txn_id=provider_txn_id))
        if existing is not None:
            if existing.booking_id != current.pk:
                raise BookingNotAllowed(f"{provider} transaction {provider_txn_id} belongs to another booking.")
            return existing
        payment = Payment.objects.create(
            booking=current,
            provider=provider,
            amount=amount,
            currency=current.currency,
            status=PaymentStatus.PENDING,
            provider_txn_id=provider_txn_id,
            provider_account=account or current.reference,
            holds_until=holds_until,
            created_at=timezone.now(),
            **provider_fields,
        )
        log_event(
            current,
            "payment.started",
            actor=actor,
            payment=payment.pk,
            provider=provider,
            amount=str(amount),
            holds_until=holds_until.isoformat(),
        )
    return payment


def one_row[ModelT: Model](rows: QuerySet[ModelT]) -> ModelT | None:
    """The row ``rows`` selects by a unique key, or None: ``first()`` without the ORDER BY it adds
    from ``Meta.ordering``, whose compiling cost more than the rest of a callback's query."""
    found = list(rows.order_by()[:1])
    return found[0] if found else None


def locked_payment(payments: QuerySet[Payment], *, related: Sequence[str] = SERVICE_RELATED) -> Payment | None:
    """The payment ``payments`` selects, its booking's row locked first and the payment's after it
    (the order every writer of a booking's money keeps); ``payment.booking`` is that booking, fresh,
    with ``related`` (``CALLBACK_RELATED`` for the providers' callbacks).

    Runs inside the caller's transaction. Two statements: the booking is locked through a subquery
    on the payment, then the payment is read again under that lock. A reschedule moves a booking's
    payments under the old booking's lock, so if it was moved in between, the second read finds
    nothing and the lock is taken on the booking it moved to. None when ``payments`` selects nothing.
    """
    bookings = Booking.objects.select_related(*related).select_for_update(of=("self",))
    return _lock_passes(
        lambda: one_row(bookings.filter(pk__in=payments.values("booking_id"))),
        lambda booking: one_row(_with_paid(payments.filter(booking_id=booking.pk)).select_for_update()),
    )


def _with_paid(payments: QuerySet[Payment]) -> QuerySet[Payment]:
    """``payments`` with ``booking_paid``: their booking's ``paid_total``, read with them. Read under the
    booking's lock (as every read here is), it is what the booking has paid until the lock is
    released: every writer of a booking's money holds it. The callbacks' ``amount_owed`` takes it."""
    return payments.annotate(booking_paid=paid_amount_expression("booking_id"))


def locked_provider_payment(provider: str, txn_id: str) -> Payment | None:
    """``locked_payment`` of a provider's transaction for its callbacks (``CALLBACK_RELATED``): the same
    two reads in the same order, compiled once (``lock_booking``, ``read_payment``)."""
    return _lock_passes(
        lambda: lock_booking(txn=(provider, txn_id)),
        lambda booking: read_payment(provider, txn_id, booking_id=booking.pk, lock=True),
    )


# --- The callbacks' reads, compiled once (bookings.selectors.compiled) --------------------------------
#
# Every callback that reaches the database starts by locking its booking, and a paying one reads its
# payment next: in one Python process the ORM took three to five times as long to build and compile
# each as PostgreSQL took to answer it. Timed in turns in one process (PostgreSQL 15, the 2-core
# machine of issue 15; best and median of ten rounds): Click's lock by reference 656/942 us built by
# the ORM each time, 200/258 us built once; its payment read 517/709 us, 147/188 us; Payme's lock
# through its transaction and payment read 1,780/2,032 us, 366/468 us. bench/payment_callbacks.py:
# 93-107 callbacks/s with the ORM building them, 109-117/s built once. The querysets below are the
# reads' one definition; tests/bookings/test_sql.py compares them with the plain ORM's, field by field.

_BOOKING_WITH_SESSION = Instances(
    Booking,
    [field.name for field in Booking._meta.concrete_fields]
    + [f"session__{field.name}" for field in Session._meta.concrete_fields],
)
_PAYMENT = Instances(Payment, [field.name for field in Payment._meta.concrete_fields], extra=("booking_paid",))


def _locked_bookings(bookings: QuerySet[Booking]) -> QuerySet[Booking]:
    """The first of ``bookings`` with its session, its row (not the session's) locked: as
    ``select_related(*CALLBACK_RELATED).select_for_update(of=("self",))``."""
    locked = bookings.select_for_update(of=("self",)).order_by()
    return locked.values(*_BOOKING_WITH_SESSION.columns)[:1]


_by_reference = CompiledRead(lambda reference: _locked_bookings(Booking.objects.filter(reference=reference)), str)
_by_transaction = CompiledRead(
    lambda provider, txn_id: _locked_bookings(
        Booking.objects.filter(
            pk__in=Payment.objects.filter(provider=provider, provider_txn_id=txn_id).values("booking_id")
        )
    ),
    str,
    str,
)


def lock_booking(*, reference: str | None = None, txn: tuple[str, str] | None = None) -> Booking | None:
    """The booking a provider's callback names, with its session, its row locked for the rest of the
    transaction, or None: by its ``reference`` (Click's ``merchant_trans_id``, Payme's account), or
    as the booking of a provider's transaction, ``txn`` = (provider, provider_txn_id) (Payme's id)."""
    if (reference is None) == (txn is None):
        raise TypeError("lock_booking() takes a reference or a provider's transaction, one of them.")
    rows = _by_reference(reference) if reference is not None else _by_transaction(*txn)
    return next(iter(_BOOKING_WITH_SESSION(rows)), None)


@cache
def _payment_read(keys: tuple[str, ...], lock: bool) -> CompiledRead:
    def build(*values: Any) -> QuerySet[Payment]:
        payments = _with_paid(Payment.objects.filter(**dict(zip(keys, values, strict=True))).order_by())
        return (payments.select_for_update() if lock else payments).values(*_PAYMENT.columns)[:1]

    return CompiledRead(build, *(int if key in ("pk", "booking_id") else str for key in keys))


def read_payment(
    provider: str, txn_id: str, *, pk: int | None = None, booking_id: int | None = None, lock: bool = False
) -> Payment | None:
    """A provider's transaction as a payment, or None: the payment of ``provider`` and ``txn_id``
    (of ``pk`` and ``booking_id`` too when given), its row locked with ``lock``, with ``booking_paid``
    (``_with_paid``: meaningful when its booking's row is locked)."""
    keys = {"provider": provider, "provider_txn_id": txn_id}
    if pk is not None:
        keys["pk"] = pk
    if booking_id is not None:
        keys["booking_id"] = booking_id
    rows = _payment_read(tuple(keys), lock)(*keys.values())
    return next(iter(_PAYMENT(rows)), None)


def _lock_passes(
    lock_booking: Callable[[], Booking | None], read: Callable[[Booking], Payment | None]
) -> Payment | None:
    for _ in range(LOCK_PASSES):
        booking = lock_booking()
        if booking is None:
            return None
        payment = read(booking)
        if payment is not None:
            payment.booking = booking
            return payment
    raise RuntimeError(f"A payment moved between bookings {LOCK_PASSES} times while its booking was being locked.")


def cancel_payment_attempt(
    payment: Payment,
    *,
    failed: bool = False,
    note: str = "",
    actor: User | None = None,
    **provider_fields: Any,
) -> Payment:
    """End a pending online payment without money: ``cancelled``, or ``failed`` when the provider
    reported an error. The booking is left as it was (a pending one waits for its own deadline)."""
    _check_fields(provider_fields)
    with transaction.atomic():
        current = _locked(payment)
        booking = current.booking
        if current.status != PaymentStatus.PENDING:
            raise InvalidTransition(
                f"{current.get_provider_display()} transaction {current.provider_txn_id} is "
                f"{current.get_status_display().lower()}: it cannot be cancelled."
            )
        current.status = PaymentStatus.FAILED if failed else PaymentStatus.CANCELLED
        current.cancelled_at = timezone.now()
        for name, value in provider_fields.items():
            setattr(current, name, value)
        current.save(update_fields=["status", "cancelled_at", *provider_fields])
        log_event(
            booking,
            "payment.failed" if failed else "payment.cancelled",
            actor=actor,
            payment=current.pk,
            provider=current.provider,
            **({"note": note} if note else {}),
        )
    _copy(current, payment)
    return current


def set_provider_state(payment: Payment, **provider_fields: Any) -> Payment:
    """Keep the provider's bookkeeping (its state, reason, the times it was answered with)."""
    _check_fields(provider_fields)
    Payment.objects.filter(pk=payment.pk).update(**provider_fields)
    for name, value in provider_fields.items():
        setattr(payment, name, value)
    return payment


def refund(payment: Payment, *, amount: Decimal | int | str | None = None, reason: str, actor: User | None) -> Payment:
    """Record money of a paid payment returned: all that is left of it (``amount=None``) or a part.

    A refund that leaves nothing of the payment cancels its booking (the one holding the seat: a
    reschedule moves the payments along) if it still holds a seat: through the cancel transition,
    so the seat is released and the history written. A partial refund leaves the booking as it is.
    A booking flagged ``needs_refund`` is cleared once nothing paid is left on it. ``payment.refunded`` is
    published after commit and the student is told (a notification, and an e-mail when they have
    an address).
    """
    reason = (reason or "").strip()
    if not reason:
        raise BookingNotAllowed("Say why the money is returned.")
    wanted = None if amount is None else _positive(amount)
    with transaction.atomic():
        current = _locked(payment)
        booking = current.booking
        left = current.refundable
        if left <= 0:
            raise BookingNotAllowed(f"Nothing of this {current.get_provider_display()} payment is left to refund.")
        if wanted is not None and wanted > left:
            raise BookingNotAllowed(f"Only {left:,.2f} {current.currency} of this payment can be refunded.")
        returned = left if wanted is None else wanted
        _record_refund(current, returned)
        full = current.refunded_amount == current.amount
        log_event(
            booking,
            "payment.refunded",
            actor=actor,
            payment=current.pk,
            provider=current.provider,
            amount=str(returned),
            reason=reason,
            full=full,
        )
        if full and booking.status in SEAT_HOLDING:
            mark_cancelled(
                [booking],
                reason=CancelReason.STAFF,
                actor=actor,
                refund=current.pk,
                announce={"reason": CancelReason.STAFF, "refund": current.pk},
            )
        if booking.needs_refund and paid_total(booking) == 0:
            Booking.objects.filter(pk=booking.pk).update(needs_refund=False, updated_at=timezone.now())
            booking.needs_refund = False
        _publish_refund(current, booking, returned=returned, reason=reason)
        if booking.student.email:
            transaction.on_commit(partial(send_refund_email, current.pk, returned))
    _copy(current, payment)
    return current


def request_payme_refund(payment: Payment, *, reason: str, actor: User | None) -> Payment:
    """Mark a performed Payme payment "refund requested": the money goes back only from Payme's side.

    Payme's Merchant API has no refund call for the merchant: the merchant cancels the transaction
    in the Payme Business cabinet, and Payme then calls CancelTransaction, which records the refund
    (``refund`` through ``bookings.payments.payme``: state -2, the booking cancelled, its seat
    released). Until then the payment shows as a refund due. Refused when that cancellation
    would be refused (-31007: the session was held or a result recorded).
    """
    reason = (reason or "").strip()
    if not reason:
        raise BookingNotAllowed("Say why the money is returned.")
    with transaction.atomic():
        current = _locked(payment)
        booking = current.booking
        if current.provider != PaymentProvider.PAYME or current.provider_state != PAYME_PERFORMED:
            raise BookingNotAllowed("Only a performed Payme transaction is refunded through Payme.")
        if current.refund_pending:
            raise BookingNotAllowed(f"A refund of this payment was already requested on {_when(current)}.")
        if current.status != PaymentStatus.PAID or current.refunded_amount:
            raise BookingNotAllowed("Nothing of this Payme payment is left to refund.")
        if service_delivered(booking):
            raise BookingNotAllowed(
                f"Booking {booking.reference} was delivered (its session was held or a result recorded): "
                "Payme's cancellation would be refused, so the money cannot go back through Payme."
            )
        current.refund_requested_at = timezone.now()
        current.refund_requested_by = actor if getattr(actor, "pk", None) else None
        current.save(update_fields=["refund_requested_at", "refund_requested_by"])
        log_event(
            booking,
            "payment.refund_requested",
            actor=actor,
            payment=current.pk,
            provider=current.provider,
            amount=str(current.amount),
            reason=reason,
            transaction=current.provider_txn_id,
        )
        bump_dashboard_version()  # the dashboard's "refunds due"
    _copy(current, payment)
    return current


def _when(payment: Payment) -> str:
    return f"{timezone.localtime(payment.refund_requested_at):%d %b %Y %H:%M}"


def send_payment_link(booking: Booking, *, actor: User | None, sms: bool = True, email: bool = True) -> dict[str, str]:
    """Send the booking's Click and Payme links to its student by SMS and/or e-mail; write it to the history.

    Only for a booking the providers would take money for (``online_payment_refusal``). Sent
    outside any transaction (a slow SMS gateway holds no lock); the history row says, per channel,
    where it went or why it did not. Returns that outcome: ``{"sms": "", "email": "SMTPException:
    ..."}``, ``""`` meaning delivered.
    """
    from bookings.payments.links import payment_links  # the payments package imports the services

    current = fresh(booking)
    owed = amount_owed(current)
    why = online_payment_refusal(current, starting=True, owed=owed)
    if why == "paid":
        raise BookingNotAllowed(f"Booking {current.reference} has nothing left to pay.")
    if why is not None:
        raise BookingNotAllowed(
            f"Booking {current.reference} is {current.get_status_display().lower()} and its seat is gone: "
            "it cannot be paid by link."
        )
    links = payment_links(current, owed=owed)
    if not links:
        raise BookingNotAllowed(
            "Neither Click nor Payme is set up (CLICK_SERVICE_ID and CLICK_MERCHANT_ID, or PAYME_MERCHANT_ID)."
        )
    if not (sms or email):
        raise BookingNotAllowed("Choose how to send the link: by SMS, by e-mail or both.")
    student = current.student
    channels = {"sms": sms and bool(student.phone), "email": email and bool(student.email)}
    if not any(channels.values()):
        wanted = " or ".join(what for what, on in (("phone number", sms), ("e-mail address", email)) if on)
        raise BookingNotAllowed(f"{student} has no {wanted} to send the link to.")
    text = _link_context(current, owed, links)
    outcome: dict[str, str] = {}
    if channels["sms"]:
        outcome["sms"] = send_sms([(current.pk, SMSMessage(to=str(student.phone), body=_link_sms(text)))])[current.pk]
    if channels["email"]:
        message = EmailMessage(
            subject=f"Pay for booking {current.reference}: {text['amount']}",
            body=render_to_string("email/payment_link.txt", text),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[student.email],
        )
        outcome["email"] = send_emails([(current.pk, message)])[current.pk]
    log_event(
        current,
        "payment.link_sent",
        actor=actor,
        amount=str(owed),
        providers=", ".join(sorted(links)),
        **{channel: _delivery(channel, student, error) for channel, error in outcome.items()},
    )
    return outcome


def _link_context(booking: Booking, owed: Decimal, links: dict[str, str]) -> dict[str, str]:
    deadline = booking.expires_at
    return {
        "name": booking.student.get_full_name() or booking.student.email or str(booking.student.phone),
        "reference": booking.reference,
        "product": booking.session.product.name,
        "starts_at": f"{timezone.localtime(booking.session.starts_at):%a %d %b %Y, %H:%M}",
        "amount": f"{owed:,.0f} {booking.currency}",
        "deadline": f"{timezone.localtime(deadline):%a %d %b %H:%M}" if deadline else "",
        "click": links.get(PaymentProvider.CLICK, ""),
        "payme": links.get(PaymentProvider.PAYME, ""),
    }


def _link_sms(text: dict[str, str]) -> str:
    parts = [f"Seatdesk: pay {text['amount']} for booking {text['reference']} ({text['product']})"]
    if text["deadline"]:
        parts[0] += f" by {text['deadline']}"
    parts[0] += "."
    if text["click"]:
        parts.append(f"Click: {text['click']}")
    if text["payme"]:
        parts.append(f"Payme: {text['payme']}")
    return " ".join(parts)


def _delivery(channel: str, student: User, error: str) -> str:
    address = str(student.phone) if channel == "sms" else student.email
    return f"sent to {address}" if not error else f"not sent to {address}: {error}"


def _record_refund(payment: Payment, returned: Decimal) -> None:
    payment.refunded_amount += returned
    payment.status = PaymentStatus.REFUNDED
    payment.cancelled_at = timezone.now()
    payment.save(update_fields=["refunded_amount", "status", "cancelled_at"])


def _locked(payment: Payment) -> Payment:
    """``payment`` re-read under its booking's lock, wherever a reschedule has moved it since."""
    current = locked_payment(Payment.objects.filter(pk=payment.pk))
    if current is None:
        raise Payment.DoesNotExist(f"No payment with id {payment.pk}.")
    return current


def _publish_refund(payment: Payment, booking: Booking, *, returned: Decimal, reason: str) -> None:
    publish(
        "payment.refunded",
        {
            "payment": payment.pk,
            "booking": booking.pk,
            "reference": booking.reference,
            "provider": payment.provider,
            "amount": str(returned),
            "refunded_amount": str(payment.refunded_amount),
            "currency": payment.currency,
            "reason": reason,
            "booking_status": booking.status,
            "summary": f"{returned:,.0f} {payment.currency} refunded for {booking.reference}",
        },
        groups=[staff_group()],
        recipients=sorted(app_users([booking.student_id])),  # their app's bell, if they use the app
    )
    bump_dashboard_version()


def send_refund_email(payment_id: int, returned: Decimal) -> None:
    """After commit: tell the student their money is on its way back. A mail outage is logged only."""
    payment = Payment.objects.select_related("booking__student", "booking__session__product").get(pk=payment_id)
    booking, student = payment.booking, payment.booking.student
    context = {
        "name": student.get_full_name() or student.email,
        "reference": booking.reference,
        "product": booking.session.product.name,
        "amount": f"{returned:,.0f} {payment.currency}",
        "provider": payment.get_provider_display(),
        "cancelled": booking.status == BookingStatus.CANCELLED,
    }
    message = EmailMessage(
        subject=f"Booking {booking.reference}: {context['amount']} refunded",
        body=render_to_string("email/payment_refunded.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[student.email],
    )
    try:
        message.send()
    except Exception:
        logger.exception("Could not send the refund e-mail for payment %s", payment_id)


def _positive(amount: Any) -> Decimal:
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise BookingNotAllowed(f"“{amount}” is not an amount of money.") from exc
    if not value.is_finite() or value <= 0:
        raise BookingNotAllowed("An amount of money must be positive.")
    return value


def _check_fields(fields: dict[str, Any]) -> None:
    if unknown := set(fields) - PROVIDER_FIELDS:
        raise TypeError(f"Not provider fields of a payment: {', '.join(sorted(unknown))}")


def _copy(source: Payment, target: Payment) -> None:
    if source is not target:
        for field in source._meta.concrete_fields:
            setattr(target, field.attname, getattr(source, field.attname))
