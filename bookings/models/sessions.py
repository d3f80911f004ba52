from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from bookings.models.catalog import Product
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
