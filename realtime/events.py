"""Publishing domain events: stored as notifications for people, sent to channel-layer groups.

``publish()`` is called by services inside their transaction. Notifications are written in that
same transaction (so they exist exactly when the change does); the envelope goes to the channel
layer only after commit, and a broken layer is logged, never raised into business code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

from django.db import transaction
from django.utils import timezone

from realtime.delivery import LAYER_MESSAGE_TYPE, Delivery, deliver
from realtime.models import Notification

__all__ = ["LAYER_MESSAGE_TYPE", "publish", "publish_many", "send_to_groups"]

EVENT_TYPES = frozenset(
    {
        "booking.created",
        "booking.confirmed",
        "booking.cancelled",
        "booking.expired",
        "booking.rescheduled",
        "booking.completed",
        "booking.no_show",
        "booking.reminder",
        "payment.received",
        "payment.refunded",
        "slot.updated",
        "result.published",
        "feedback.requested",
        "import.finished",
    }
)

TITLES = {
    "booking.created": "New booking",
    "booking.confirmed": "Booking confirmed",
    "booking.cancelled": "Booking cancelled",
    "booking.expired": "Booking expired",
    "booking.rescheduled": "Booking rescheduled",
    "booking.completed": "Booking completed",
    "booking.no_show": "No-show",
    "booking.reminder": "Reminder",
    "payment.received": "Payment received",
    "payment.refunded": "Payment refunded",
    "slot.updated": "Seats changed",
    "result.published": "Result published",
    "feedback.requested": "Feedback to review",
    "import.finished": "Import finished",
}


def staff_group() -> str:
    return "staff"


def tutor_group(user_id: int) -> str:
    return f"tutor.{user_id}"


def session_group(session_id: int) -> str:
    return f"session.{session_id}"


def envelope(type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": type,
        "id": str(uuid.uuid4()),
        "at": timezone.now().astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": data,
    }


Event = tuple[str, dict[str, Any], Sequence[str], Iterable[Any]]


def publish(
    type: str,
    data: dict[str, Any],
    *,
    groups: Sequence[str],
    recipients: Iterable[Any] = (),
) -> dict[str, Any]:
    """Store a notification per recipient now; send the envelope to ``groups`` after commit."""
    return publish_many([(type, data, groups, recipients)])[0]


def publish_many(events: Sequence[Event]) -> list[dict[str, Any]]:
    """``publish()`` for a batch: one INSERT for all notifications, one hop to the layer after commit."""
    messages: list[dict[str, Any]] = []
    notifications: list[Notification] = []
    deliveries: list[Delivery] = []
    for type, data, groups, recipients in events:
        if type not in EVENT_TYPES:
            raise ValueError(f"Unknown event type {type!r}")
        message = envelope(type, data)
        messages.append(message)
        recipient_ids = sorted({getattr(r, "pk", r) for r in recipients if r is not None})
        for rid in recipient_ids:
            notifications.append(
                Notification(
                    recipient_id=rid,
                    type=type,
                    title=TITLES[type],
                    message=str(data.get("summary", "")),
                    data=message,
                )
            )
        if groups:
            deliveries.append((message, list(dict.fromkeys(groups)), recipient_ids))
    if notifications:
        Notification.objects.bulk_create(notifications, batch_size=1000)
    if deliveries:
        transaction.on_commit(lambda: _deliver(deliveries))
    return messages


def send_to_groups(message: dict[str, Any], groups: Sequence[str]) -> None:
    _deliver([(message, list(groups), [])])


def _deliver(deliveries: list[Delivery]) -> None:
    deliver(deliveries)
