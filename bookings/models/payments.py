from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from bookings.models.bookings import Booking, PaymentMethod

# How a booking is to be paid and who took the money are the same three choices.
PaymentProvider = PaymentMethod


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"
    FAILED = "failed", "Failed"


class Payment(models.Model):
    """Money for a booking: cash taken at the desk, or one online attempt (a Click or Payme transaction).

    An online attempt is ``pending`` from the provider's first call (Click Prepare, Payme
    CreateTransaction) until it is paid or cancelled; while ``holds_until`` lies ahead it keeps its
    booking from expiring (``bookings.services.expiry``). A refund, full or partial, moves a payment
    to ``refunded`` and adds to ``refunded_amount``: what a booking has been paid is
    ``amount - refunded_amount`` over its paid and refunded payments (``bookings.selectors.paid_total``).
    """

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=8, choices=PaymentProvider.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="UZS")
    status = models.CharField(max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    # db_default: rows written by raw SQL (benchmarks, bulk seeds) get 0 as well.
    refunded_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal(0), db_default=Decimal(0))
    provider_txn_id = models.CharField(max_length=64, null=True, blank=True)
    holds_until = models.DateTimeField(
        null=True, blank=True, help_text="While pending, the booking keeps its seat until then (money in flight)."
    )
    # The provider's own bookkeeping, kept as it was sent and answered, so a repeated call gets the
    # same answer: Payme's state (1, 2, -1, -2) and cancel reason; Payme's ``time`` and the
    # create/perform/cancel times we answered, in milliseconds since the epoch; Click's payment number.
    provider_state = models.IntegerField(null=True, blank=True)
    provider_reason = models.IntegerField(null=True, blank=True)
    provider_time = models.BigIntegerField(null=True, blank=True, help_text="Payme's own time of the transaction (ms).")
    create_time = models.BigIntegerField(null=True, blank=True)
    perform_time = models.BigIntegerField(null=True, blank=True)
    cancel_time = models.BigIntegerField(null=True, blank=True)
    click_paydoc_id = models.CharField(max_length=32, blank=True)
    # What the provider names the transaction's booking by (Payme's ``account``, Click's
    # ``merchant_trans_id``), as it started it: a reschedule moves the payment to another booking,
    # the provider keeps this one (Payme's GetStatement answers with it).
    provider_account = models.CharField(
        max_length=64, blank=True, help_text="The booking reference the provider's transaction was started with."
    )
    performed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True, help_text="When it was cancelled or last refunded.")
    # A refund asked of the provider and not done yet: a Payme payment waits for the merchant to
    # cancel it in Payme's business cabinet (Payme then calls CancelTransaction, which records the
    # refund); a Click reversal is in flight. Kept once the refund is done, as a record of who asked.
    refund_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="A refund was asked of the provider (Payme: in its business cabinet)."
    )
    refund_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Money goes back only through managers (backoffice.roles gives them the whole app).
        permissions = [("refund_payment", "Can refund payments")]
        indexes = [
            models.Index(fields=["booking", "status"]),
            models.Index(fields=["status", "created_at"]),
            # The payments list, newest first: its first page read from the index, not by sorting
            # every payment (931 ms at 791,750 payments, bench/admin_pages.py).
            models.Index(fields=["created_at", "id"], name="payment_newest_first"),
            # The dashboard's revenue per day: money in by the day it was paid, never a full scan.
            models.Index(
                fields=["performed_at"],
                include=["amount"],
                condition=models.Q(status__in=["paid", "refunded"]),
                name="payment_received",
            ),
            # The expiry sweep asks, per due booking, whether money is in flight for it: a handful of
            # rows at any time, so a small partial index answers without touching the table.
            models.Index(
                fields=["booking", "holds_until"],
                condition=models.Q(status="pending"),
                name="payment_in_flight",
            ),
            # Payme's GetStatement asks for its transactions by its own time.
            models.Index(
                fields=["provider_time"],
                condition=models.Q(provider_time__isnull=False),
                name="payment_provider_time",
            ),
            # The dashboard's "refunds due" and the list's filter: refunds asked for and not done.
            models.Index(
                fields=["refund_requested_at"],
                condition=models.Q(refund_requested_at__isnull=False, status="paid"),
                name="payment_refund_requested",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_txn_id"],
                condition=models.Q(provider_txn_id__isnull=False),
                name="payment_txn_unique_per_provider",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(refunded_amount__gte=0, refunded_amount__lte=models.F("amount")),
                name="payment_refund_within_amount",
            ),
            # "refunded" says some of the money went back: how much is refunded_amount, never 0.
            models.CheckConstraint(
                condition=~models.Q(status="refunded") | models.Q(refunded_amount__gt=0),
                name="payment_refunded_has_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.amount:,.0f} {self.currency}"

    @property
    def is_stuck(self) -> bool:
        """Still pending past the provider's limit (``bookings.selectors.stuck_payments`` for a list)."""
        return (
            self.status == PaymentStatus.PENDING and self.holds_until is not None and self.holds_until < timezone.now()
        )

    @property
    def refund_pending(self) -> bool:
        """A refund was asked of the provider and the money has not gone back yet."""
        return self.refund_requested_at is not None and self.status == PaymentStatus.PAID

    @property
    def refundable(self) -> Decimal:
        """What can still be returned of this payment."""
        if self.status not in (PaymentStatus.PAID, PaymentStatus.REFUNDED):
            return Decimal(0)
        return self.amount - self.refunded_amount


class PaymentLog(models.Model):
    """One call of a provider to our callback URLs: the request (secrets redacted) and our answer.

    Written for every call, refused ones included (a forged signature, an unknown booking): as the
    last statement of the transaction that handled the call, so the money and its record commit
    together; a call refused before the database, or one whose transaction failed, is logged on its own.
    """

    provider = models.CharField(max_length=8, choices=PaymentProvider.choices)
    action = models.CharField(max_length=40, help_text="Click's prepare/complete, or Payme's method.")
    payment = models.ForeignKey(Payment, on_delete=models.SET_NULL, null=True, blank=True, related_name="logs")
    booking_reference = models.CharField(max_length=64, blank=True)
    remote_addr = models.CharField(max_length=64, blank=True)
    request = models.JSONField(default=dict, blank=True)
    response = models.JSONField(default=dict, blank=True)
    error = models.IntegerField(null=True, blank=True, help_text="The error code answered; empty on success.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["payment", "created_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.action} @ {self.created_at:%Y-%m-%d %H:%M:%S}"
