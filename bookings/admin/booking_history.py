"""A booking's history (``BookingEvent``) in words and on the viewer's clock: the booking page's
inline and the list of every booking's history. Append-only: nobody adds, edits or deletes it here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import TabularInline
from unfold.decorators import display

from backoffice.admin_lists import ModelAdmin, SafeChangeListMixin
from bookings.admin.base import ReadOnlyInline, TutorScopedMixin, viewer_time
from bookings.models import BookingAction, BookingEvent
from bookings.models.history import shown_at
from bookings.selectors import viewer_timezone

# What describe() reads of the booking: its currency, and its session by product and time.
DESCRIBED_WITH = ("booking__session__product", "actor")


class BookingEventInline(ReadOnlyInline, TabularInline):
    model = BookingEvent
    fields = ("when", "what", "actor_label", "details")
    readonly_fields = fields
    verbose_name_plural = "history"
    show_title = False  # unfold's row title repeats the row ("Booked · …") on the centre's clock

    # Inline instances are made per request (ModelAdmin.get_inline_instances): the viewer's zone
    # and request are kept on the instance by get_queryset, which the page calls before drawing.
    request: HttpRequest | None = None
    viewer_tz: tzinfo | None = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[BookingEvent]:
        self.request, self.viewer_tz = request, viewer_timezone(request.user)
        return super().get_queryset(request).select_related(*DESCRIBED_WITH)

    @display(description="When")
    def when(self, obj: BookingEvent) -> str:
        return viewer_time(self.request, obj.created_at) if self.request else shown_at(obj.created_at)

    @display(description="What")
    def what(self, obj: BookingEvent) -> str:
        return obj.action_label

    @display(description="Details")
    def details(self, obj: BookingEvent) -> str:
        return obj.describe(tz=self.viewer_tz) or "–"

    @display(description="Who")
    def actor_label(self, obj: BookingEvent) -> str:
        return obj.actor_label


class ActionFilter(admin.SimpleListFilter):
    """The history's actions by their words ("Payment received"), not their codes."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in BookingAction.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(BookingEvent)
class BookingEventAdmin(SafeChangeListMixin, TutorScopedMixin, ModelAdmin):
    """The append-only history of every booking, newest first, in words and local times."""

    tutor_user_lookup = "booking__session__tutor__user"
    list_display = ("when", "booking", "what", "actor_label", "details")
    list_select_related = DESCRIBED_WITH
    list_filter = (ActionFilter,)
    search_fields = ("booking__reference", "action")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    fields = ("booking", "what", "actor", "when", "details")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[BookingEvent]:
        return super().get_queryset(request).select_related(*DESCRIBED_WITH)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BookingEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: BookingEvent | None = None) -> bool:
        return False

    def viewer_columns(self, request: HttpRequest) -> dict[str, Callable[[BookingEvent], str]]:
        """The columns and fields that show times, drawn on the viewer's clock (a tutor's own zone)."""
        tz = viewer_timezone(request.user)

        def when(obj: BookingEvent) -> str:
            return viewer_time(request, obj.created_at)

        def details(obj: BookingEvent) -> str:
            return obj.describe(tz=tz) or "–"

        when.short_description, when.admin_order_field = "When", "created_at"
        details.short_description = "Details"
        return {"when": when, "details": details}

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns = self.viewer_columns(request)
        return [columns.get(name, name) for name in self.list_display]

    def viewer_fields(self, request: HttpRequest) -> dict[str, Any]:
        return self.viewer_columns(request)

    # The same columns on the centre's clock, for the admin's checks and any caller without a request.
    @display(description="When", ordering="created_at")
    def when(self, obj: BookingEvent) -> str:
        return shown_at(obj.created_at)

    @display(description="What", ordering="action")
    def what(self, obj: BookingEvent) -> str:
        return obj.action_label

    @display(description="Details")
    def details(self, obj: BookingEvent) -> str:
        return obj.describe() or "–"

    @display(description="Who")
    def actor_label(self, obj: BookingEvent) -> str:
        return obj.actor_label
