from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models


class ProductKind(models.TextChoices):
    EXAM = "exam", "Exam"
    LESSON = "lesson", "Lesson"


class Scoring(models.TextChoices):
    IELTS_BAND = "ielts_band", "IELTS band (0–9)"
    RAW = "raw", "Raw score"
    NONE = "none", "Not scored"


class Product(models.Model):
    """What the centre sells: a mock exam sitting, a lesson."""

    code = models.SlugField(
        max_length=40,
        unique=True,
        help_text="Short unique code used by imports, e.g. IELTS-MOCK.",
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=ProductKind.choices, default=ProductKind.EXAM)
    duration_minutes = models.PositiveIntegerField(default=60, validators=[MinValueValidator(5)])
    price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
    )
    currency = models.CharField(max_length=3, default="UZS")
    default_capacity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    payment_window_hours = models.PositiveIntegerField(
        default=24,
        help_text="Unpaid bookings are cancelled this many hours after they are made.",
    )
    scoring = models.CharField(max_length=12, choices=Scoring.choices, default=Scoring.NONE)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_free(self) -> bool:
        return self.price <= 0
