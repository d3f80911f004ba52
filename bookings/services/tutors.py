"""A tutor's own set-up: settings, weekly availability, days off, calendar link.

The admin's tutor page and the API's ``tutor/`` endpoints both write through these. A value that
breaks a rule raises ``django.core.exceptions.ValidationError`` naming the field, and nothing is
written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from backoffice.models import User
from bookings.models import Availability, DateException, ExceptionKind, Product, Tutor
from bookings.models.tutors import new_calendar_token

# What a tutor may change about themselves (the user, the calendar token and is_active are staff's).
SETTINGS_FIELDS = (
    "timezone",
    "lesson_minutes",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "min_notice_hours",
    "max_advance_days",
    "auto_confirm",
    "cancellation_policy",
)


def regenerate_calendar_token(tutor: Tutor, *, actor: User | None = None) -> Tutor:
    """Issue a new secret calendar link; the old one stops working at once."""
    tutor.calendar_token = new_calendar_token()
    tutor.save(update_fields=["calendar_token"])
    return tutor


def update_tutor_settings(tutor: Tutor, *, changes: Mapping[str, Any], actor: User | None = None) -> Tutor:
    """Apply ``changes`` (of ``SETTINGS_FIELDS``) whole, or refuse them whole."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({name: ["This setting cannot be changed here."] for name in sorted(unknown)})
    for name, value in changes.items():
        setattr(tutor, name, value)
    tutor.full_clean(exclude=["user"])
    if changes:
        tutor.save(update_fields=list(changes))
    return tutor


def _check_window(window: Availability) -> None:
    errors: dict[str, list[str]] = {}
    if window.end_time <= window.start_time:
        errors["end_time"] = ["The window must end after it starts."]
    if window.valid_from and window.valid_until and window.valid_until < window.valid_from:
        errors["valid_until"] = ["valid_until is before valid_from."]
    if not window.product.is_active:
        errors["product"] = ["This product is not on sale."]
    if errors:
        raise ValidationError(errors)
    window.full_clean(exclude=["tutor"])


def add_availability(
    tutor: Tutor,
    *,
    product: Product,
    weekday: int,
    start_time: time,
    end_time: time,
    valid_from: date | None = None,
    valid_until: date | None = None,
    actor: User | None = None,
) -> Availability:
    """Add one weekly window (the tutor's local time) from which sessions are generated."""
    window = Availability(
        tutor=tutor,
        product=product,
        weekday=weekday,
        start_time=start_time,
        end_time=end_time,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    _check_window(window)
    window.save(force_insert=True)
    return window


def replace_availability(
    tutor: Tutor, *, windows: Iterable[Mapping[str, Any]], actor: User | None = None
) -> list[Availability]:
    """Replace the tutor's whole week with ``windows`` in one transaction: every window is checked
    first, and one bad window changes nothing. Sessions already generated are kept."""
    new = [Availability(tutor=tutor, **window) for window in windows]
    for index, window in enumerate(new):
        try:
            _check_window(window)
        except ValidationError as exc:
            raise ValidationError({"windows": [f"Window {index + 1}: {m}" for m in exc.messages]}) from exc
    with transaction.atomic():
        Availability.objects.filter(tutor=tutor).delete()
        return Availability.objects.bulk_create(new)


def remove_availability(window: Availability, *, actor: User | None = None) -> None:
    window.delete()


def add_date_exception(
    tutor: Tutor,
    *,
    date: date,
    kind: str = ExceptionKind.DAY_OFF,
    start_time: time | None = None,
    end_time: time | None = None,
    note: str = "",
    actor: User | None = None,
) -> DateException:
    """Mark a day (or part of one: both times) on which the tutor is not available."""
    exception = DateException(tutor=tutor, date=date, kind=kind, start_time=start_time, end_time=end_time, note=note)
    if (start_time is None) != (end_time is None):
        missing = "end_time" if end_time is None else "start_time"
        raise ValidationError({missing: ["Give both times for part of a day, or neither for the whole day."]})
    if start_time is not None and end_time is not None and end_time <= start_time:
        raise ValidationError({"end_time": ["The time off must end after it starts."]})
    exception.full_clean(exclude=["tutor"])
    exception.save(force_insert=True)
    return exception


def remove_date_exception(exception: DateException, *, actor: User | None = None) -> None:
    exception.delete()
