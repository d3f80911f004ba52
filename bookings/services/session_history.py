"""How a session's history is written: which ``SessionEvent`` each change makes, with what data.

The session services (single and bulk) build their events here, so a change reads the same in the
history whether staff made it in the admin, an import did, or a nightly task. Values are kept as
they were shown then: people and products by name, times in ISO 8601 (UTC), read back in local
time by ``SessionEvent.describe``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone

from backoffice.models import User
from bookings.models import Session, SessionAction, SessionEvent, SessionStatus

BATCH_SIZE = 2000

# A status change is recorded as what it did, not as an edit of the status field.
STATUS_ACTIONS = {
    SessionStatus.CLOSED: SessionAction.CLOSED,
    SessionStatus.OPEN: SessionAction.REOPENED,
    SessionStatus.CANCELLED: SessionAction.CANCELLED,
}
# What a new session's history records of it.
CREATION_FIELDS = ("product", "tutor", "room", "starts_at", "ends_at", "capacity", "status")


def event(
    session: Session | int,
    action: SessionAction,
    *,
    actor: User | None,
    data: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> SessionEvent:
    """An unsaved event (``write`` saves a batch of them)."""
    return SessionEvent(
        session_id=session if isinstance(session, int) else session.pk,
        action=action,
        actor=actor,
        data=dict(data or {}),
        created_at=now or timezone.now(),
    )


def write(events: Iterable[SessionEvent]) -> None:
    """Save events in as few INSERTs as the database allows."""
    SessionEvent.objects.bulk_create(list(events), batch_size=BATCH_SIZE)


def shown(value: Any) -> Any:
    """A field's value as the history keeps it: JSON, and readable without the row it named."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value)
    return value


def creation(
    session: Session, action: SessionAction, *, actor: User | None, now: datetime, **extra: Any
) -> SessionEvent:
    """The event of a new session: what it was made with."""
    data = {name: shown(getattr(session, name)) for name in CREATION_FIELDS}
    return event(session, action, actor=actor, data={**data, **extra}, now=now)


def edits(
    before: Session, changes: Mapping[str, Any], *, actor: User | None, now: datetime, **extra: Any
) -> list[SessionEvent]:
    """The events of an edit (``changes`` are the new values of the fields that changed).

    A status change is recorded as closed / reopened / cancelled and a capacity change on its own,
    as the single actions record them; the other fields in one ``session.edited`` with old → new.
    """
    made: list[SessionEvent] = []
    rest = {name: value for name, value in changes.items() if name not in ("status", "capacity")}
    if rest:
        changed = {name: [shown(getattr(before, name)), shown(value)] for name, value in rest.items()}
        made.append(event(before, SessionAction.EDITED, actor=actor, data={"changes": changed, **extra}, now=now))
    if "capacity" in changes:
        data = {"old": before.capacity, "new": changes["capacity"], **extra}
        made.append(event(before, SessionAction.CAPACITY_CHANGED, actor=actor, data=data, now=now))
    if "status" in changes:
        made.append(event(before, STATUS_ACTIONS[changes["status"]], actor=actor, data=extra, now=now))
    return made
