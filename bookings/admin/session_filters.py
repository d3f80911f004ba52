"""The sessions list's "when" filter: it opens on today's and upcoming sessions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from bookings.admin.calendar import local_midnight
from bookings.models import Session


class WhenFilter(admin.SimpleListFilter):
    """The list opens on today's and upcoming sessions; past ones (latest first) are a click away.

    A date range or a date-hierarchy pick shows every session of those days instead.
    """

    title = "when"
    parameter_name = "when"
    CHOICES = (("upcoming", "Today and upcoming"), ("past", "Past"), ("all", "All"))

    def __init__(self, request: HttpRequest, params: dict, model: type[Session], model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        by_date = any(key.startswith("starts_at") for key in request.GET)
        self.default = "all" if by_date else "upcoming"

    def lookups(self, request: HttpRequest, model_admin: Any) -> tuple[tuple[str, str], ...]:
        return self.CHOICES

    def value(self) -> str:
        value = super().value()
        return value if value in dict(self.CHOICES) else self.default

    def choices(self, changelist: Any):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        today = local_midnight(timezone.localdate())
        match self.value():
            case "upcoming":
                return queryset.filter(starts_at__gte=today)
            case "past":
                return queryset.filter(starts_at__lt=today)
        return queryset
