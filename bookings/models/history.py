"""What every append-only history row has: an action, who did it (nobody: the system), its data, when.

Times are shown to people in one format, 24-hour as the centre writes them ("Wed 09 Dec 2026 14:00",
``shown_at``), on the viewer's clock (``bookings.selectors.viewer_timezone``; the centre's by default).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django.conf import settings
from django.db import models
from django.utils import timezone

# The one way a moment is written for people in the back office (as DATETIME_FORMAT "D d M Y H:i").
SHOWN_FORMAT = "%a %d %b %Y %H:%M"


def shown_at(moment: datetime | None, tz: tzinfo | None = None) -> str:
    """``moment`` as people read it: "Wed 09 Dec 2026 14:00" on ``tz`` (default: the centre's clock)."""
    if moment is None:
        return "–"
    return f"{timezone.localtime(moment, tz):{SHOWN_FORMAT}}"


class HistoryEvent(models.Model):
    """An append-only history row. Subclasses add the object it belongs to and the ``action`` field."""

    noun = "History"  # the message of a refused update: "Booking history is append-only."

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
        abstract = True
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action_label} · {shown_at(self.created_at)}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:  # written once, by an INSERT that sets the id
            raise ValueError(f"{self.noun} is append-only.")
        super().save(*args, **kwargs)

    @property
    def action_label(self) -> str:
        """The action in words ("Capacity changed"), not its dotted code."""
        labels = dict(self._meta.get_field("action").flatchoices)
        return str(labels.get(self.action, humanized_action(self.action)))

    @property
    def actor_label(self) -> str:
        return str(self.actor) if self.actor_id else "system"


def humanized_action(action: str) -> str:
    """An action no label names ("feedback.requested") in words: "Feedback requested"."""
    return action.replace(".", " ").replace("_", " ").capitalize()
