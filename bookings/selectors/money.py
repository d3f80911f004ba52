"""What a booking has paid and owes, its payment state, and payments that need a person."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import (
    Case,
    CharField,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextChoices,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from bookings.models import (
    Booking,
    BookingStatus,
    CancelReason,
    Payment,
    PaymentStatus,
    SessionStatus,
)
from bookings.selectors.compiled import CompiledRead

ONE_DECIMAL = Decimal("0.1")
# Payments whose money was taken: a refunded one counts for what was not returned.
MONEY_TAKEN = (PaymentStatus.PAID, PaymentStatus.REFUNDED)
MONEY = DecimalField(max_digits=12, decimal_places=2)


# --- Money: what a booking has paid, owes, and its payment state -------------------------------------
#
# One definition of "paid", used by the services (``record_payment`` takes no more than is owed,
# ``refund`` no more than was paid), the payment callbacks, the admin list and page, the exports,
# the dashboard and the API. A payment belongs to one booking at a time: a reschedule moves the
# payments to the new booking (``bookings.services.payments.move_payments``), so a booking's paid
# amount is over its own payments only, and one payment is never counted for two bookings.


def net_paid() -> Sum:
    """The aggregate of money kept over a queryset of payments filtered to ``MONEY_TAKEN``."""
    return Sum(F("amount") - F("refunded_amount"))


def paid_amount_expression(booking: str = "pk") -> Coalesce:
    """``paid_total`` as a correlated subquery: 0 when nothing was paid. Of the outer row, a booking
    (``booking="pk"``), or of the booking of the outer row, a payment (``"booking_id"``)."""
    paid = (
        Payment.objects.filter(booking=OuterRef(booking), status__in=MONEY_TAKEN)
        .order_by()
        .values("booking")
        .annotate(total=net_paid())
        .values("total")
    )
    return Coalesce(Subquery(paid), Value(Decimal(0)), output_field=MONEY)


def with_paid_amount(bookings: QuerySet[Booking]) -> QuerySet[Booking]:
    """``bookings`` annotated with ``paid_amount`` (``paid_total`` of each): still one query, the
    subquery answered per row fetched by the (booking, status) index of payments."""
    return bookings.annotate(paid_amount=paid_amount_expression())


def _paid_query(booking_id: int) -> QuerySet[Payment]:
    """``paid_total``'s read: one row with the sum, or none when nothing was paid."""
    paid = Payment.objects.filter(booking_id=booking_id, status__in=MONEY_TAKEN).order_by()
    return paid.values("booking").annotate(total=net_paid()).values("total")


# Every payment callback reads it under the booking's lock: built and compiled once, not per call
# (selectors.compiled; the ORM's aggregate was a tenth of a callback's own CPU).
_paid = CompiledRead(_paid_query, int)


def paid_total(booking: Booking) -> Decimal:
    """Money paid for this booking less what was refunded, over its own payments; one query."""
    rows = _paid(booking.pk)
    return rows[0]["total"] if rows else Decimal(0)


def amount_owed(booking: Booking, *, paid: Decimal | None = None) -> Decimal:
    """What the booking still owes: its price less the money already paid for it (never below 0).

    This is the amount a payment callback must carry (Click in soums, Payme in tiyin). ``paid``:
    the booking's ``paid_total`` when the caller has it already (``with_paid_amount``).
    """
    return max(booking.price - (paid_total(booking) if paid is None else paid), Decimal(0))


class PaymentState(TextChoices):
    """What a booking's money amounts to, as the admin list, the exports and the API show it."""

    PAID = "paid", "paid"
    PART = "part", "part-paid"
    REFUND = "refund", "refund due"
    FREE = "free", "free"
    UNPAID = "unpaid", "unpaid"


def payment_state(booking: Booking, paid: Decimal) -> PaymentState:
    """The state of ``booking`` having been paid ``paid`` (its ``paid_total`` or ``paid_amount``).

    Money kept on a booking that lost its seat (``needs_refund``) is "refund due" whatever the sum.
    """
    if booking.needs_refund:
        return PaymentState.REFUND
    if booking.price <= 0:
        return PaymentState.FREE
    if paid >= booking.price:
        return PaymentState.PAID
    if paid > 0:
        return PaymentState.PART
    return PaymentState.UNPAID


def stuck_payments(*, now: datetime | None = None) -> Q:
    """Online attempts still pending past the provider's own limit (``holds_until``): a Payme
    transaction in state 1 more than 12 hours after Payme's ``time``, a Click payment prepared more
    than an hour ago and never completed. The provider will not finish them by itself; the booking
    no longer keeps its seat for them (``bookings.services.expiry``). ``Payment.is_stuck`` for one row.
    """
    return Q(status=PaymentStatus.PENDING, holds_until__lt=now or timezone.now())


def refunds_due() -> Q:
    """Payments whose money must go back and has not: a refund asked of the provider (Payme's
    cabinet, a Click reversal under way) and not done, or money kept on a booking flagged
    ``needs_refund`` (a late payment that found no seat)."""
    flagged = Booking.objects.filter(needs_refund=True).values("pk")
    return Q(refund_requested_at__isnull=False, status=PaymentStatus.PAID) | Q(
        booking__in=flagged, status__in=MONEY_TAKEN, refunded_amount__lt=F("amount")
    )


class StudentPaymentStatus(TextChoices):
    """A booking's payment status as a student sees it (the API's ``payment_status``): ``paid``
    once what it owes is paid (a free one at once), ``cancelled`` when cancelled, else ``pending``."""

    PENDING = "pending", "pending"
    PAID = "paid", "paid"
    CANCELLED = "cancelled", "cancelled"


def student_payment_status(booking: Booking, *, paid: Decimal | None = None) -> StudentPaymentStatus:
    """``StudentPaymentStatus`` of one booking; ``paid``: its ``paid_total`` when known already."""
    if booking.status == BookingStatus.CANCELLED:
        return StudentPaymentStatus.CANCELLED
    owed = amount_owed(booking, paid=paid)
    return StudentPaymentStatus.PAID if owed <= 0 else StudentPaymentStatus.PENDING


def with_student_payment_status(bookings: QuerySet[Booking]) -> QuerySet[Booking]:
    """``bookings`` with ``paid_amount``, filterable on ``payment_status`` (``student_payment_status``
    in SQL, so lists filter and page on it): still one query.

    ``payment_status`` is an alias, not a selected column: selecting it would repeat the paid-amount
    subquery in every row's SELECT (PostgreSQL plans it twice), and the rows compute it from
    ``paid_amount`` with ``student_payment_status`` instead (tests/bookings/test_student_selectors.py
    checks both agree). Filtering on it still runs in SQL.
    """
    return with_paid_amount(bookings).alias(
        payment_status=Case(
            When(status=BookingStatus.CANCELLED, then=Value(StudentPaymentStatus.CANCELLED.value)),
            When(price__lte=F("paid_amount"), then=Value(StudentPaymentStatus.PAID.value)),
            default=Value(StudentPaymentStatus.PENDING.value),
            output_field=CharField(),
        )
    )


# --- Paying online: who may, and when the money can no longer go back ----------------------------


def online_payment_refusal(booking: Booking, *, starting: bool, owed: Decimal | None = None) -> str | None:
    """Why ``booking`` cannot take money online now: ``"paid"`` (nothing is owed), ``"closed"``
    (cancelled, or expired with its seat gone), or None when it can.

    The one rule for Click's Prepare and Complete, Payme's CheckPerform, Create and Perform, the
    payment links (the admin, the API, the link sent by SMS or e-mail) and the admin's "Send
    payment link": what is offered is what the providers' callbacks then accept.

    The late-payment rule decides what a payment for an expired booking does (re-book if a seat is
    free, else keep the money and flag a refund: ``record_payment``); ``starting`` a payment for one
    whose seat is already gone is refused, so nobody pays for a seat they cannot have. ``owed``:
    ``amount_owed(booking)`` when the caller has read it already.
    """
    if (amount_owed(booking) if owed is None else owed) <= 0:
        return "paid"
    if booking.status != BookingStatus.CANCELLED:
        return None
    if booking.cancel_reason != CancelReason.EXPIRED:
        return "closed"
    if starting and not _seat_free(booking):
        return "closed"
    return None


def _seat_free(booking: Booking) -> bool:
    session = booking.session
    return session.status == SessionStatus.OPEN and not session.has_started and session.seats_left > 0


def service_delivered(booking: Booking) -> bool:
    """The booking's service was given: its session started, or a result is recorded."""
    return (
        booking.status in (BookingStatus.COMPLETED, BookingStatus.NO_SHOW)
        or booking.has_result
        or booking.session.has_started
    )
