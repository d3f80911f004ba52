"""Notifications: written by realtime.events.publish, read here and through the bell.

A notification is one person's: everyone sees only their own, a superuser everyone's (to look
into a delivery problem). Nothing is typed in here; the only change is marking read.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from unfold.admin import ModelAdmin
from unfold.decorators import display

from backoffice.admin_lists import SafeChangeListMixin
from realtime import inbox
from realtime.models import Notification


def sees_everyones(user: Any) -> bool:
    return user.is_superuser


@admin.register(Notification)
class NotificationAdmin(SafeChangeListMixin, ModelAdmin):
    list_display = ("created_at", "recipient", "type", "title", "message", "read_badge")
    list_select_related = ("recipient",)
    list_filter = ("read", "type")
    search_fields = ("title", "message")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("mark_read",)
    fields = ("recipient", "type", "title", "message", "data", "read", "read_at", "created_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        queryset = super().get_queryset(request)
        return queryset if sees_everyones(request.user) else queryset.filter(recipient=request.user)

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        if sees_everyones(request.user):
            return self.list_display
        return tuple(name for name in self.list_display if name != "recipient")

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Notification:
        # Someone else's notification is not there for this person: 404, not a redirect that
        # tells them it exists.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such notification.")
        return obj

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        # A notification's page only shows it; the one change there is, marking read, is the
        # list action (which asks for this permission without an object).
        return obj is None and super().has_change_permission(request)

    @display(description="Read", ordering="read", label={"unread": "warning", "read": "info"})
    def read_badge(self, obj: Notification) -> tuple[str, str]:
        return ("read", "Read") if obj.read else ("unread", "Unread")

    @admin.action(description="Mark selected as read", permissions=["change"])
    def mark_read(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        count = inbox.mark_read(queryset, user_id=request.user.pk)
        if count:
            self.message_user(request, f"{count} notification(s) marked as read.", messages.SUCCESS)
        else:
            self.message_user(request, "None of the selected notifications was yours and unread.", messages.WARNING)
