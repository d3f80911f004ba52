from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from bookings.models.bookings import Booking
from bookings.models.catalog import Scoring

SUB_SCORES = ("listening", "reading", "writing", "speaking")
HALF = Decimal("0.5")


def ielts_overall(scores: list[Decimal]) -> Decimal:
    """Mean of the four bands rounded to the nearest half band; .25 rounds up to .5, .75 up to the next band."""
    mean = sum(scores, Decimal(0)) / len(scores)
    return ((mean * 2).quantize(Decimal(1), rounding=ROUND_HALF_UP) / 2).quantize(Decimal("0.1"))


def validate_band(value: Decimal | None) -> None:
    if value is None:
        return
    if not (Decimal(0) <= value <= Decimal(9)) or (value % HALF) != 0:
        raise ValidationError(
            f"{value} is not an IELTS band: use 0–9 in steps of 0.5.",
            code="invalid_band",
        )


def score_field(label: str) -> models.DecimalField:
    return models.DecimalField(
        label,
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )


class TestResult(models.Model):
    __test__ = False  # not a pytest test class

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="results")
    listening = score_field("listening")
    reading = score_field("reading")
    writing = score_field("writing")
    speaking = score_field("speaking")
    overall = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True, editable=False)
    test_date = models.DateField(default=timezone.localdate)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-test_date", "-created_at", "-id"]
        permissions = [("import_testresult", "Can import results from a spreadsheet")]
        indexes = [models.Index(fields=["booking", "test_date"])]

    def __str__(self) -> str:
        return f"{self.booking} · {self.overall if self.overall is not None else '—'}"

    def save(self, *args, **kwargs) -> None:
        self.overall = self.compute_overall()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "overall" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "overall"]
        super().save(*args, **kwargs)

    @property
    def scoring(self) -> str:
        if self.booking_id is None:
            return Scoring.NONE  # no booking chosen yet: the form reports that field's own error
        return self.booking.session.product.scoring

    def sub_scores(self) -> dict[str, Decimal | None]:
        return {name: getattr(self, name) for name in SUB_SCORES}

    def clean(self) -> None:
        super().clean()
        scores = self.sub_scores()
        errors: dict[str, str] = {}
        if self.scoring == Scoring.IELTS_BAND:
            for name, value in scores.items():
                if value is None:
                    errors[name] = "Enter a band score."
                    continue
                try:
                    validate_band(Decimal(value))
                except ValidationError as exc:
                    errors[name] = exc.messages[0]
        elif all(value is None for value in scores.values()) and self.scoring == Scoring.RAW:
            errors["listening"] = "Enter at least one score."
        if errors:
            raise ValidationError(errors)

    def compute_overall(self) -> Decimal | None:
        values = [Decimal(v) for v in self.sub_scores().values() if v is not None]
        if not values:
            return None
        if self.scoring == Scoring.IELTS_BAND:
            return ielts_overall(values) if len(values) == len(SUB_SCORES) else None
        if self.scoring == Scoring.RAW:
            return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        return None


class FeedbackKind(models.TextChoices):
    WRITING = "writing", "Writing"
    SPEAKING = "speaking", "Speaking"


class FeedbackRequest(models.Model):
    """A student's writing or speaking submission for a tutor to score and comment on."""

    student = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="feedback_requests",
    )
    tutor = models.ForeignKey(
        "bookings.Tutor",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="feedback_requests",
    )
    booking = models.ForeignKey(
        Booking,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="feedback_requests",
    )
    kind = models.CharField(max_length=10, choices=FeedbackKind.choices, default=FeedbackKind.WRITING)
    task = models.CharField(max_length=200, blank=True, help_text="The prompt the student answered.")
    submission = models.TextField(help_text="The student's text, or a link to the recording.")
    score = models.DecimalField(
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(9), validate_band],
    )
    comment = models.TextField(blank=True)
    completed = models.BooleanField(default=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["completed", "-created_at"]
        indexes = [
            models.Index(fields=["tutor", "completed"]),
            models.Index(fields=["student", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} feedback for {self.student}"
