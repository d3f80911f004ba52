"""Notifications: written by realtime.events.publish, read here and in the bell menu."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from unfold.admin import ModelAdmin

from backoffice.models import Role
from realtime.models import Notification


def sees_everyones(user: Any) -> bool:
    # A notification is one person's; managers may look at anyone's when something went wrong.
    return user.is_superuser or getattr(user, "role", None) == Role.MANAGER


@admin.register(Notification)
class NotificationAdmin(ModelAdmin):
    list_display = ("created_at", "recipient", "type", "title", "read")
    list_select_related = ("recipient",)
    list_filter = ("read", "type")
    search_fields = ("title", "message", "recipient__first_name", "recipient__last_name", "recipient__email")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("mark_read",)
    fields = ("recipient", "type", "title", "message", "data", "read", "read_at", "created_at")
    readonly_fields = ("recipient", "type", "title", "message", "data", "read_at", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        queryset = super().get_queryset(request)
        return queryset if sees_everyones(request.user) else queryset.filter(recipient=request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Notification, form: Any, change: bool) -> None:
        if "read" in form.changed_data:
            obj.read_at = timezone.now() if obj.read else None
        super().save_model(request, obj, form, change)

    @admin.action(description="Mark selected as read", permissions=["change"])
    def mark_read(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        count = queryset.filter(read=False).update(read=True, read_at=timezone.now())
        self.message_user(request, f"{count} notification(s) marked as read.", messages.SUCCESS)
