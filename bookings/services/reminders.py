"""Scheduling and cancelling reminders as bookings change state. Delivery lives in bookings.tasks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from bookings.models import Booking, Reminder, ReminderChannel, ReminderStatus

DEFAULT_OFFSETS = {
    "24h": timedelta(hours=24),
    "1h": timedelta(hours=1),
    "15m": timedelta(minutes=15),
}


def offsets() -> dict[str, timedelta]:
    configured = getattr(settings, "REMINDER_OFFSETS_MINUTES", None)
    if not configured:
        return DEFAULT_OFFSETS
    return {label: timedelta(minutes=int(minutes)) for label, minutes in configured.items()}


def schedule_start_reminders(booking: Booking, *, now: datetime | None = None) -> list[Reminder]:
    """Reminders before the start for the student (e-mail, SMS) and the tutor (push); past ones skipped."""
    now = now or timezone.now()
    session = booking.session
    student = booking.student
    targets: list[tuple[int, str]] = []
    if student.email:
        targets.append((student.pk, ReminderChannel.EMAIL))
    if student.phone:
        targets.append((student.pk, ReminderChannel.SMS))
    if session.tutor_id:
        targets.append((session.tutor.user_id, ReminderChannel.PUSH))
    reminders = [
        Reminder(
            booking=booking,
            recipient_id=recipient,
            channel=channel,
            kind=label,
            scheduled_at=at,
        )
        for label, offset in offsets().items()
        if (at := session.starts_at - offset) > now
        for recipient, channel in targets
    ]
    return Reminder.objects.bulk_create(reminders)


def cancel_pending_reminders(booking_ids: Iterable[int]) -> int:
    return Reminder.objects.filter(booking_id__in=list(booking_ids), status=ReminderStatus.PENDING).update(
        status=ReminderStatus.CANCELLED
    )
