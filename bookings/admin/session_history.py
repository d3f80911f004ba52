"""A session's history on its admin page: what happened to it, who did it, when (local time).

The history is append-only (``SessionEvent``, written by the session services): shown here, never
added, edited or deleted through the admin.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from bookings.models import Session, SessionEvent


def history_table(session: Session) -> dict[str, Any]:
    """The session's events, oldest first, as unfold's table component takes them: one query."""
    events = SessionEvent.objects.filter(session=session).select_related("actor").order_by("created_at", "id")
    return {
        "headers": ["When", "What", "Who", "Details"],
        "rows": [
            [
                f"{timezone.localtime(event.created_at):%a %d %b %Y %H:%M}",
                event.get_action_display(),
                event.actor_label,
                event.describe() or "–",
            ]
            for event in events
        ],
    }
