from __future__ import annotations

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
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=8, choices=PaymentProvider.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="UZS")
    status = models.CharField(max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    provider_txn_id = models.CharField(max_length=64, null=True, blank=True)
    provider_state = models.IntegerField(null=True, blank=True)
    provider_created_at = models.DateTimeField(null=True, blank=True)
    performed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    raw_log = models.JSONField(default=list, blank=True, help_text="Every payload the provider sent, in order.")
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
        indexes = [
            models.Index(fields=["booking", "status"]),
            models.Index(fields=["status", "created_at"]),
            # The dashboard's revenue per day: money in by the day it was paid, never a full scan.
            models.Index(
                fields=["performed_at"],
                include=["amount"],
                condition=models.Q(status__in=["paid", "refunded"]),
                name="payment_received",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_txn_id"],
                condition=models.Q(provider_txn_id__isnull=False),
                name="payment_txn_unique_per_provider",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.amount:,.0f} {self.currency}"
