from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from bookings.models.sessions import Session

# No 0/O, 1/I/L: a reference is read out over the phone.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 7


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


class BookingStatus(models.TextChoices):
    PENDING = "pending", "Pending payment"
    CONFIRMED = "confirmed", "Confirmed"
    COMPLETED = "completed", "Completed"
    NO_SHOW = "no_show", "No-show"
    CANCELLED = "cancelled", "Cancelled"


# Statuses that hold a seat. Session.seats_taken always equals the number of these.
SEAT_HOLDING = (BookingStatus.PENDING, BookingStatus.CONFIRMED)


class CancelReason(models.TextChoices):
    EXPIRED = "expired", "Not paid in time"
    STUDENT = "student", "Cancelled by the student"
    STAFF = "staff", "Cancelled by staff"
    TUTOR = "tutor", "Cancelled by the tutor"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    RESCHEDULED = "rescheduled", "Moved to another session"


class PaymentMethod(models.TextChoices):
    CASH = "cash", "Cash"
    CLICK = "click", "Click"
    PAYME = "payme", "Payme"


class BookingSource(models.TextChoices):
    ADMIN = "admin", "Back office"
    API = "api", "Online"
    IMPORT = "import", "Import"


class Booking(models.Model):
    reference = models.CharField(max_length=12, unique=True, default=new_reference, editable=False)
    # No single-column indexes: (student, created_at) and (session, status) below lead with these
    # columns and serve the same lookups, and every index is paid again on each booking insert.
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings", db_index=False
    )
    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="bookings", db_index=False)
    status = models.CharField(max_length=10, choices=BookingStatus.choices, default=BookingStatus.PENDING)
    cancel_reason = models.CharField(max_length=16, choices=CancelReason.choices, blank=True)
    payment_method = models.CharField(max_length=8, choices=PaymentMethod.choices, default=PaymentMethod.CASH)
    price = models.DecimalField(max_digits=12, decimal_places=2, help_text="Price when booked.")
    currency = models.CharField(max_length=3, default="UZS")
    expires_at = models.DateTimeField(null=True, blank=True)
    has_result = models.BooleanField(default=False, editable=False)
    needs_refund = models.BooleanField(
        default=False,
        help_text="Paid after the seat was lost: the money is to be returned.",
    )
    rescheduled_from = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rescheduled_to",
    )
    source = models.CharField(max_length=8, choices=BookingSource.choices, default=BookingSource.ADMIN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("import_booking", "Can import bookings from a spreadsheet")]
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["session", "status"]),
            models.Index(fields=["student", "created_at"]),
            models.Index(fields=["created_at"]),
            models.Index(
                fields=["needs_refund"],
                condition=models.Q(needs_refund=True),
                name="booking_refund_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["student", "session"],
                condition=models.Q(status__in=SEAT_HOLDING),
                name="booking_one_active_per_student_session",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=BookingStatus.CANCELLED) | ~models.Q(cancel_reason=""),
                name="booking_cancelled_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def holds_seat(self) -> bool:
        return self.status in SEAT_HOLDING

    @property
    def is_expired(self) -> bool:
        """True for a booking cancelled for non-payment, or a pending one past its deadline."""
        if self.status == BookingStatus.CANCELLED:
            return self.cancel_reason == CancelReason.EXPIRED
        return (
            self.status == BookingStatus.PENDING and self.expires_at is not None and self.expires_at <= timezone.now()
        )

    @property
    def time_left(self) -> timedelta:
        """Time until a pending booking expires, truncated to whole minutes; zero otherwise."""
        if self.status != BookingStatus.PENDING or self.expires_at is None:
            return timedelta(0)
        left = self.expires_at - timezone.now()
        if left <= timedelta(0):
            return timedelta(0)
        return timedelta(minutes=int(left.total_seconds() // 60))

    @property
    def time_left_display(self) -> str:
        """``12 h 30 min`` for a pending booking, empty otherwise."""
        left = self.time_left
        if not left:
            return "under 1 min" if self.status == BookingStatus.PENDING and not self.is_expired else ""
        hours, minutes = divmod(int(left.total_seconds() // 60), 60)
        return f"{hours} h {minutes} min" if hours else f"{minutes} min"


class BookingEvent(models.Model):
    """Append-only history of a booking: who did what, when."""

    # Indexed once, by (booking, created_at) below: history is read per booking, and every extra
    # index is paid on each of the many rows an expiry sweep or an import writes.
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="events", db_index=False)
    action = models.CharField(max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["booking", "created_at"])]

    def __str__(self) -> str:
        return f"{self.action} @ {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("Booking history is append-only.")
        super().save(*args, **kwargs)

    @property
    def actor_label(self) -> str:
        return str(self.actor) if self.actor_id else "system"
