from __future__ import annotations

from django.conf import settings
from django.db import models

from bookings.models.bookings import Booking


class ReminderChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"
    PUSH = "push", "Push (live: back office and app)"


class ReminderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"  # claimed by a worker; see claimed_at
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Reminder(models.Model):
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="reminders")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders")
    channel = models.CharField(max_length=6, choices=ReminderChannel.choices)
    kind = models.CharField(max_length=20, default="before_start", help_text="e.g. 24h, 1h, 15m, payment.")
    scheduled_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=ReminderStatus.choices, default=ReminderStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker took it to send; a stale claim means the worker died."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When a failed reminder is retried.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scheduled_at", "id"]
        indexes = [
            models.Index(fields=["status", "scheduled_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["booking", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.kind} → {self.recipient}"
