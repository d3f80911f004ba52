"""Reminders: scheduled by the booking services, sent by tasks. Shown here, never edited."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.text import Truncator
from unfold.admin import ModelAdmin
from unfold.decorators import display

from bookings.admin.base import REMINDER_STATUS_COLOURS, student_search_fields
from bookings.models import Reminder


@admin.register(Reminder)
class ReminderAdmin(ModelAdmin):
    list_display = ("scheduled_at", "booking", "recipient", "channel", "kind", "status_badge", "attempts", "error")
    list_select_related = ("booking", "recipient")
    list_filter = ("status", "channel", "kind")
    search_fields = ("booking__reference", *student_search_fields("recipient"))
    date_hierarchy = "scheduled_at"
    show_full_result_count = False
    fields = (
        "booking",
        "recipient",
        "channel",
        "kind",
        "scheduled_at",
        "status",
        "attempts",
        "sent_at",
        "last_error",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reminder | None = None) -> bool:
        return False

    @display(description="Status", ordering="status", label=REMINDER_STATUS_COLOURS)
    def status_badge(self, obj: Reminder) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    @display(description="Last error")
    def error(self, obj: Reminder) -> str:
        return Truncator(obj.last_error).chars(60)
