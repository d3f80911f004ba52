"""A session's history on its admin page: what happened to it, who did it, when (the viewer's clock).

The history is append-only (``SessionEvent``, written by the session services): shown here, never
added, edited or deleted through the admin.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from bookings.admin.base import viewer_time
from bookings.models import Session, SessionEvent


def history_table(session: Session, request: HttpRequest) -> dict[str, Any]:
    """The session's events, oldest first, as unfold's table component takes them: one query."""
    events = SessionEvent.objects.filter(session=session).select_related("actor").order_by("created_at", "id")
    return {
        "headers": ["When", "What", "Who", "Details"],
        "rows": [
            [
                viewer_time(request, event.created_at),
                event.action_label,
                event.actor_label,
                event.describe() or "–",
            ]
            for event in events
        ],
    }
