from __future__ import annotations

import secrets
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"“{value}” is not an IANA time zone, e.g. Asia/Tashkent.") from exc


class CancellationPolicy(models.TextChoices):
    FLEXIBLE = "flexible", "Flexible — free until 2 hours before"
    MODERATE = "moderate", "Moderate — free until 24 hours before"
    STRICT = "strict", "Strict — free until 72 hours before"


# How long before the start a student may still cancel for free, per policy.
FREE_CANCELLATION_CUTOFF = {
    CancellationPolicy.FLEXIBLE: timedelta(hours=2),
    CancellationPolicy.MODERATE: timedelta(hours=24),
    CancellationPolicy.STRICT: timedelta(hours=72),
}


def new_calendar_token() -> str:
    return secrets.token_urlsafe(24)


class Tutor(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tutor")
    timezone = models.CharField(max_length=64, default="Asia/Tashkent", validators=[validate_timezone])
    lesson_minutes = models.PositiveIntegerField(default=60)
    buffer_before_minutes = models.PositiveIntegerField(default=0)
    buffer_after_minutes = models.PositiveIntegerField(default=10)
    min_notice_hours = models.PositiveIntegerField(default=12, help_text="Bookings closer to the start are refused.")
    max_advance_days = models.PositiveIntegerField(default=60, help_text="How far ahead sessions are generated.")
    auto_confirm = models.BooleanField(
        default=False,
        help_text="Confirm bookings at once, without waiting for payment.",
    )
    cancellation_policy = models.CharField(
        max_length=10,
        choices=CancellationPolicy.choices,
        default=CancellationPolicy.MODERATE,
    )
    is_active = models.BooleanField(default=True)
    # The secret in the tutor's private calendar feed URL; regenerating it revokes the old link.
    calendar_token = models.CharField(max_length=40, unique=True, default=new_calendar_token, editable=False)

    class Meta:
        ordering = ["user__first_name", "user__last_name"]

    def __str__(self) -> str:
        return str(self.user)

    @property
    def min_notice(self) -> timedelta:
        return timedelta(hours=self.min_notice_hours)

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Availability(models.Model):
    """A weekly window, in the tutor's local time, in which sessions can be generated."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    tutor = models.ForeignKey(Tutor, on_delete=models.CASCADE, related_name="availability")
    product = models.ForeignKey(
        "bookings.Product",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="What the sessions generated from this window sell (a lesson product, usually).",
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "availability"
        ordering = ["tutor", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")),
                name="availability_end_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_until__isnull=True)
                | models.Q(valid_from__isnull=True)
                | models.Q(valid_until__gte=models.F("valid_from")),
                name="availability_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}–{self.end_time:%H:%M}"


class ExceptionKind(models.TextChoices):
    DAY_OFF = "day_off", "Day off"
    HOLIDAY = "holiday", "Holiday"
    VACATION = "vacation", "Vacation"
    SICK_LEAVE = "sick_leave", "Sick leave"


class DateException(models.Model):
    """A date on which a tutor is not available: the whole day, or from start to end time."""

    tutor = models.ForeignKey(Tutor, on_delete=models.CASCADE, related_name="date_exceptions")
    date = models.DateField()
    kind = models.CharField(max_length=12, choices=ExceptionKind.choices, default=ExceptionKind.DAY_OFF)
    start_time = models.TimeField(null=True, blank=True, help_text="Leave empty for the whole day.")
    end_time = models.TimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["tutor", "date"]
        indexes = [models.Index(fields=["tutor", "date"])]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(start_time__isnull=True) & models.Q(end_time__isnull=True))
                | (
                    models.Q(start_time__isnull=False)
                    & models.Q(end_time__isnull=False)
                    & models.Q(end_time__gt=models.F("start_time"))
                ),
                name="date_exception_full_day_or_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.date:%Y-%m-%d}"

    @property
    def is_full_day(self) -> bool:
        return self.start_time is None
