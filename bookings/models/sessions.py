from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone

from bookings.models.catalog import Product
from bookings.models.history import HistoryEvent
from bookings.models.tutors import Tutor


class SessionStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


class SessionSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    AVAILABILITY = "availability", "Availability"
    IMPORT = "import", "Import"


class Session(models.Model):
    """A dated sitting of a product. ``seats_taken`` counts pending and confirmed bookings."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="sessions")
    tutor = models.ForeignKey(Tutor, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions")
    room = models.CharField(max_length=60, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveIntegerField()
    # Written only by bookings.services with conditional UPDATEs; never edited by hand.
    seats_taken = models.PositiveIntegerField(default=0, editable=False)
    status = models.CharField(max_length=10, choices=SessionStatus.choices, default=SessionStatus.OPEN)
    source = models.CharField(max_length=12, choices=SessionSource.choices, default=SessionSource.MANUAL)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["starts_at", "id"]
        permissions = [("import_session", "Can import sessions from a spreadsheet")]
        indexes = [
            models.Index(fields=["starts_at"]),
            models.Index(fields=["status", "starts_at"]),
            models.Index(fields=["tutor", "starts_at"]),
            models.Index(fields=["product", "starts_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(seats_taken__gte=0) & models.Q(seats_taken__lte=models.F("capacity")),
                name="session_seats_within_capacity",
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="session_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["tutor", "starts_at"],
                condition=~models.Q(status=SessionStatus.CANCELLED),
                name="session_one_live_per_tutor_start",
            ),
        ]

    def __str__(self) -> str:
        local = timezone.localtime(self.starts_at)
        who = f" · {self.tutor}" if self.tutor_id else ""
        return f"{self.product} · {local:%a %d %b %Y %H:%M}{who}"

    def save(self, *args, **kwargs) -> None:
        # seats_taken belongs to the booking services' conditional UPDATEs. A plain save() of an
        # instance read a moment ago would write its stale count back and lose a booking made
        # meanwhile, so an existing row is saved without it unless a caller names it explicitly.
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [
                f.attname for f in self._meta.concrete_fields if not f.primary_key and f.name != "seats_taken"
            ]
        super().save(*args, **kwargs)

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.seats_taken, 0)

    @property
    def is_full(self) -> bool:
        return self.seats_taken >= self.capacity

    @property
    def has_started(self) -> bool:
        return self.starts_at <= timezone.now()

    @property
    def has_ended(self) -> bool:
        return self.ends_at <= timezone.now()


class SessionAction(models.TextChoices):
    """What happened to a session, as its history records it."""

    CREATED = "session.created", "Created"
    GENERATED = "session.generated", "Generated from availability"
    IMPORTED = "session.imported", "Imported"
    DUPLICATED = "session.duplicated", "Duplicated"
    EDITED = "session.edited", "Edited"
    CAPACITY_CHANGED = "session.capacity_changed", "Capacity changed"
    CLOSED = "session.closed", "Closed to new bookings"
    REOPENED = "session.reopened", "Reopened for bookings"
    CANCELLED = "session.cancelled", "Cancelled"


class SessionEvent(HistoryEvent):
    """Append-only history of a session, written by the session services whoever calls them."""

    noun = "Session history"

    # Indexed once, by (session, created_at): history is read per session, and generation and
    # imports write one row per session they make.
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="events", db_index=False)
    action = models.CharField(max_length=40, choices=SessionAction.choices)

    class Meta(HistoryEvent.Meta):
        indexes = [models.Index(fields=["session", "created_at"], name="session_event_history")]

    def describe(self) -> str:
        """The event's data in words and local times, for people (not its JSON)."""
        data = self.data if isinstance(self.data, dict) else {}
        words = _DESCRIBE.get(self.action, _describe_creation)(data)
        if data.get("via") == "import":
            words = f"{words} (import)" if words else "by import"
        return words


def _local(value: object) -> str:
    """An ISO time the history kept, on the centre's clock; anything else as it is."""
    if not isinstance(value, str):
        return "–" if value in (None, "") else str(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return f"{timezone.localtime(moment):%a %d %b %Y %H:%M}" if moment.tzinfo else value


def _field_label(name: str) -> str:
    try:
        return str(Session._meta.get_field(name).verbose_name).capitalize()
    except FieldDoesNotExist:
        return name.replace("_", " ").capitalize()


def _describe_creation(data: dict) -> str:
    if "copy_of" in data:
        return f"Copy of the session of {_local(data.get('copy_of_starts_at'))}"
    parts = [f"{data['capacity']} seat(s)"] if "capacity" in data else []
    parts += [f"room {data['room']}"] if data.get("room") else []
    parts += [f"tutor {data['tutor']}"] if data.get("tutor") else []
    return ", ".join(parts)


def _describe_duplication(data: dict) -> str:
    if "copy_of" in data:
        return _describe_creation(data)
    copies = [_local(start) for start in data.get("copies", [])]
    words = f"Copied to {len(copies)} week(s)" + (f": {'; '.join(copies)}" if copies else "")
    skipped = data.get("skipped", 0)
    return f"{words}; {skipped} week(s) skipped" if skipped else words


def _describe_edit(data: dict) -> str:
    changes = data.get("changes", {})
    return "; ".join(
        f"{_field_label(name)}: {_local(old) if name.endswith('_at') else old or '–'} → "
        f"{_local(new) if name.endswith('_at') else new or '–'}"
        for name, (old, new) in changes.items()
    )


def _describe_cancellation(data: dict) -> str:
    words = f"{data.get('bookings', 0)} booking(s) cancelled with it"
    if data.get("reason"):
        words += f", by the {'tutor' if data['reason'] == 'tutor' else 'centre'}"
    return f"{words}: {data['note']}" if data.get("note") else words


_DESCRIBE = {
    SessionAction.DUPLICATED: _describe_duplication,
    SessionAction.EDITED: _describe_edit,
    SessionAction.CAPACITY_CHANGED: lambda data: f"{data.get('old')} → {data.get('new')} seats",
    SessionAction.CLOSED: lambda data: "The session ended" if data.get("reason") == "ended" else "",
    SessionAction.REOPENED: lambda data: "",
    SessionAction.CANCELLED: _describe_cancellation,
}
