"""What every append-only history row has: an action, who did it (nobody: the system), its data, when."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


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
        return f"{self.action} @ {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:  # written once, by an INSERT that sets the id
            raise ValueError(f"{self.noun} is append-only.")
        super().save(*args, **kwargs)

    @property
    def actor_label(self) -> str:
        return str(self.actor) if self.actor_id else "system"
