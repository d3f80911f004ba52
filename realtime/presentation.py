"""Notifications in words, for people: what kind, when (local, 24-hour), what it says, and where to go.

A stored notification keeps the event's envelope (``data``) with codes and ids: "booking.created",
"2026-12-03T13:02:00Z", ``{"status": "pending", "session": 107}``. The bell, the list and a
notification's page show it as "New booking", "03 Dec 2026, 18:02" and "Status: Pending"; the
link to what it is about (a booking, a feedback request, an import) is offered only to someone
whose admin lets them open it -- asked of that admin, for a whole page of notifications at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.db.models import Model, TextChoices
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from bookings.models import (
    Booking,
    BookingStatus,
    CancelReason,
    FeedbackKind,
    FeedbackRequest,
    ImportKind,
    ImportRecord,
    ImportStatus,
    PaymentMethod,
)
from realtime.events import TITLES
from realtime.models import Notification

TIME_FORMAT = "%d %b %Y, %H:%M"  # "03 Dec 2026, 18:02": the centre writes 24-hour times

# Data keys shown as a line "<label>: <value>", in this order; anything else follows, humanised.
# Ids (booking, session, payment, record, ...) are not shown: they are the link, or nothing to a person.
FIELDS: dict[str, str] = {
    "reference": "Booking",
    "student": "Student",
    "product": "Product",
    "starts_at": "Session starts",
    "status": "Status",
    "booking_status": "Booking status",
    "reason": "Reason",
    "amount": "Amount",
    "refunded_amount": "Refunded in all",
    "provider": "Paid by",
    "needs_refund": "Needs a refund",
    "overall": "Overall band",
    "kind": "Kind",
    "task": "Task",
    "filename": "File",
    "total": "Rows",
    "counts": "Outcome",
    "seats_text": "Seats",
}
HIDDEN = frozenset(
    {"summary", "booking", "session", "payment", "record", "result", "feedback", "currency", "student_id", "tutor"}
)
# Codes in the data, by the key they come under, and the words they stand for.
CHOICES: dict[str, Sequence[type[TextChoices]]] = {
    "status": (BookingStatus, ImportStatus),
    "booking_status": (BookingStatus,),
    "reason": (CancelReason,),
    "provider": (PaymentMethod,),
    "kind": (FeedbackKind, ImportKind),
}


@dataclass(frozen=True)
class Target:
    """What a notification is about, for a link: "Open booking AB12CD" -> its admin page."""

    url: str
    label: str


# (data key, model, link text): the first key a notification's data carries as an id is its target.
TARGETS: tuple[tuple[str, type[Model], str], ...] = (
    ("booking", Booking, "Open booking"),
    ("feedback", FeedbackRequest, "Open feedback"),
    ("record", ImportRecord, "Open import"),
)


def type_label(type: str) -> str:
    """The kind of a notification in words: "booking.created" -> "New booking"."""
    return TITLES.get(type) or type.replace(".", " ").replace("_", " ").capitalize()


def local_time(value: datetime | None) -> str:
    """A moment in the person's current time zone, 24-hour: "03 Dec 2026, 18:02"."""
    return f"{timezone.localtime(value):{TIME_FORMAT}}" if value is not None else ""


def event_data(notification: Notification) -> dict[str, Any]:
    """The event's own data (the envelope's ``data``), or {} for a notification stored without one."""
    envelope = notification.data if isinstance(notification.data, dict) else {}
    data = envelope.get("data", {})
    return data if isinstance(data, dict) else {}


def details(notification: Notification) -> list[tuple[str, str]]:
    """The event's data as (label, words) lines: known fields first, ids and the summary left out."""
    data = event_data(notification)
    keys = [key for key in FIELDS if key in data] + [key for key in data if key not in FIELDS]
    lines = []
    for key in keys:
        if key in HIDDEN:
            continue
        words = _words(key, data[key], data)
        if words:
            lines.append((FIELDS.get(key) or key.replace("_", " ").capitalize(), words))
    return lines


def _words(key: str, value: Any, data: dict[str, Any]) -> str:
    if value is None or value == "" or isinstance(value, list):
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict):
        return ", ".join(f"{count} {name}" for name, count in value.items() if not isinstance(count, (dict, list)))
    if key == "starts_at" and isinstance(value, str):
        moment = parse_datetime(value)
        return local_time(moment) if moment is not None else value
    if key in ("amount", "refunded_amount"):
        return f"{_number(value)} {data.get('currency', '')}".strip()
    for choices in CHOICES.get(key, ()):
        if value in choices.values:
            return str(choices(value).label)
    return str(value)


def _number(value: Any) -> str:
    try:
        return f"{float(value):,.0f}"
    except (TypeError, ValueError):
        return str(value)


def targets(request: HttpRequest, notifications: Iterable[Notification]) -> dict[int, Target]:
    """Each notification's link, for those whose target this person may open (one query per kind)."""
    wanted: dict[type[Model], dict[int, list[tuple[Notification, str]]]] = {}
    for notification in notifications:
        data = event_data(notification)
        for key, model, text in TARGETS:
            pk = data.get(key)
            if isinstance(pk, int) and not isinstance(pk, bool) and pk > 0:
                label = f"{text} {data['reference']}" if key == "booking" and data.get("reference") else text
                wanted.setdefault(model, {}).setdefault(pk, []).append((notification, label))
                break
    found: dict[int, Target] = {}
    for model, by_pk in wanted.items():
        for pk in _openable(request, model, by_pk):
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])
            for notification, label in by_pk[pk]:
                found[notification.pk] = Target(url=url, label=label)
    return found


def _openable(request: HttpRequest, model: type[Model], ids: Iterable[int]) -> list[int]:
    """The ids among ``ids`` whose page this person's admin opens: its permission and its rows."""
    if not admin.site.is_registered(model):
        return []
    model_admin = admin.site.get_model_admin(model)
    if not model_admin.has_view_permission(request):
        return []
    rows = model_admin.get_queryset(request).filter(pk__in=list(ids)).order_by()
    return list(rows.values_list("pk", flat=True))
