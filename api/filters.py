"""Query filters of the list endpoints (django-filter): every value is checked (400 when it does
not parse), and the rules themselves come from bookings.selectors."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import django_filters
from django import forms
from django.db.models import F, Q, QuerySet

from bookings.models import Booking, Session
from bookings.reports import local_midnight
from bookings.selectors import StudentPaymentStatus, future_bookings, past_bookings

# Days outside this range cannot be turned into an aware datetime and back (year 1, year 9999).
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(2999, 12, 31)


# The largest id a database column holds (bigint); a larger one is a 400, not an overflow.
MAX_ID = 2**63 - 1


class IdField(forms.IntegerField):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, min_value=1, max_value=MAX_ID, **kwargs)


class IdFilter(django_filters.NumberFilter):
    """A whole-number id (``?product=3``); a fraction, letters or a number out of range is a 400."""

    field_class = IdField


class StrictBooleanField(forms.NullBooleanField):
    """true or false (1 or 0); anything else is a 400, not silently "either"."""

    WORDS = {"true": True, "false": False, "1": True, "0": False}
    widget = forms.TextInput  # the select widget would read any other word as "unknown"

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        try:
            return self.WORDS[str(value).lower()]
        except KeyError:
            raise forms.ValidationError("Enter true or false.", code="invalid") from None

    def validate(self, value) -> None:
        return None


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class DayField(forms.DateField):
    """A day as YYYY-MM-DD exactly (strptime alone would take 2026-1-5)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, input_formats=["%Y-%m-%d"], **kwargs)

    def clean(self, value):
        if value not in (None, "") and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
            raise forms.ValidationError("Enter a day as YYYY-MM-DD.", code="invalid")
        day = super().clean(value)
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise forms.ValidationError(f"Enter a day between {EARLIEST_DAY} and {LATEST_DAY}.")
        return day


class DayFilter(django_filters.DateFilter):
    field_class = DayField


class StrictFilterSet(django_filters.FilterSet):
    """A parameter sent empty (``?date_to=``) is a 400, as the schema has it, not "no filter"."""

    def is_valid(self) -> bool:
        blank = [name for name in self.filters if name in self.data and self.data.get(name) == ""]
        valid = super().is_valid()
        for name in blank:
            self.form.add_error(name, "Give a value, or leave the parameter out.")
        return valid and not blank


class SessionFilter(StrictFilterSet):
    """Days are the centre's days (settings.TIME_ZONE), as on the back office's calendar."""

    product = IdFilter(field_name="product_id", help_text="Sessions of this product (its id).")
    tutor = IdFilter(field_name="tutor_id", help_text="Sessions of this tutor (the tutor's id).")
    date_from = DayFilter(method="filter_date_from", help_text="Starting on or after this day (YYYY-MM-DD, local).")
    date_to = DayFilter(method="filter_date_to", help_text="Starting on or before this day (YYYY-MM-DD, local).")
    available = StrictBooleanFilter(
        method="filter_available", help_text="true: only sessions with a seat left; false: only full ones."
    )

    class Meta:
        model = Session
        fields: list[str] = []

    def filter_date_from(self, queryset: QuerySet[Session], name: str, value: date) -> QuerySet[Session]:
        return queryset.filter(starts_at__gte=local_midnight(value))

    def filter_date_to(self, queryset: QuerySet[Session], name: str, value: date) -> QuerySet[Session]:
        return queryset.filter(starts_at__lt=local_midnight(value + timedelta(days=1)))

    def filter_available(self, queryset: QuerySet[Session], name: str, value: bool) -> QuerySet[Session]:
        has_seat = Q(seats_taken__lt=F("capacity"))
        return queryset.filter(has_seat) if value else queryset.exclude(has_seat)


class BookingType:
    FUTURE = "future"
    PAST = "past"
    choices = ((FUTURE, "future"), (PAST, "past"))


class BookingFilter(StrictFilterSet):
    type = django_filters.ChoiceFilter(
        choices=BookingType.choices,
        method="filter_type",
        help_text=(
            "future: the session has not started and the booking is neither cancelled nor expired (soonest "
            "first); past: the session is over and the booking was paid (latest first)."
        ),
    )
    status = django_filters.ChoiceFilter(
        field_name="payment_status",
        choices=StudentPaymentStatus.choices,
        help_text="The booking's payment_status: pending, paid or cancelled.",
    )

    class Meta:
        model = Booking
        fields: list[str] = []

    # The time "future" and "past" are taken at (None: now); the list's own, so one time decides it.
    now: datetime | None = None

    def filter_type(self, queryset: QuerySet[Booking], name: str, value: str) -> QuerySet[Booking]:
        if value == BookingType.FUTURE:
            return queryset.filter(future_bookings(now=self.now)).order_by("session__starts_at", "id")
        return queryset.filter(past_bookings(now=self.now)).order_by("-session__starts_at", "-id")
