"""Tutors, their weekly availability and their days off."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display

from backoffice.models import Role, User
from bookings import services
from bookings.admin.base import TutorScopedMixin, tutor_filter
from bookings.calendar_feed import calendar_url
from bookings.models import Availability, DateException, Tutor

TUTOR_SEARCH = ("tutor__user__first_name", "tutor__user__last_name", "tutor__user__email")


class AvailabilityInline(TabularInline):
    model = Availability
    fields = ("weekday", "start_time", "end_time", "valid_from", "valid_until")
    extra = 0


class DateExceptionInline(TabularInline):
    model = DateException
    fields = ("date", "kind", "start_time", "end_time", "note")
    extra = 0
    per_page = 20  # years of days off accumulate; unfold paginates the inline


@admin.register(Tutor)
class TutorAdmin(ModelAdmin):
    list_display = (
        "name",
        "email",
        "timezone",
        "lesson_minutes",
        "min_notice_hours",
        "auto_confirm",
        "cancellation_policy",
        "is_active",
    )
    list_select_related = ("user",)
    list_filter = ("is_active", "auto_confirm", "cancellation_policy")
    search_fields = ("user__first_name", "user__last_name", "user__email", "user__phone")
    inlines = (AvailabilityInline, DateExceptionInline)
    fieldsets = (
        (None, {"fields": ("user", "timezone", "is_active")}),
        (
            "Lessons",
            {
                "fields": (
                    "lesson_minutes",
                    "buffer_before_minutes",
                    "buffer_after_minutes",
                    "min_notice_hours",
                    "max_advance_days",
                )
            },
        ),
        ("Bookings", {"fields": ("auto_confirm", "cancellation_policy")}),
        ("Calendar", {"fields": ("calendar_link",)}),
    )
    readonly_fields = ("calendar_link",)
    actions = ("regenerate_calendar_links",)

    @display(description="Private calendar feed")
    def calendar_link(self, obj: Tutor) -> str:
        if obj.pk is None:
            return "Created with the tutor."
        url = calendar_url(obj)
        return format_html(
            '<a href="{}" class="text-primary-600 break-all">{}</a><br><span class="text-xs">Subscribe to this '
            "address in Google Calendar (Other calendars → From URL) or Apple Calendar (File → New Calendar "
            "Subscription). Anyone with the link sees the schedule: regenerate it from the tutors list if it "
            "leaks.</span>",
            url,
            url,
        )

    @admin.action(description="Regenerate calendar links (old links stop working)", permissions=["change"])
    def regenerate_calendar_links(self, request: HttpRequest, queryset: QuerySet[Tutor]) -> None:
        for tutor in queryset:
            services.regenerate_calendar_token(tutor, actor=request.user)
        self.message_user(request, f"New calendar links for {queryset.count()} tutor(s).", messages.SUCCESS)

    def get_queryset(self, request: HttpRequest):
        # Sessions pick their tutor through this admin's autocomplete, labelled by the user's name.
        return super().get_queryset(request).select_related("user")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name == "user":
            kwargs["queryset"] = User.objects.filter(role=Role.TUTOR).order_by("first_name", "last_name")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @display(description="Tutor", ordering="user__first_name")
    def name(self, obj: Tutor) -> str:
        return str(obj.user)

    @display(description="E-mail", ordering="user__email")
    def email(self, obj: Tutor) -> str:
        return obj.user.email


@admin.register(Availability)
class AvailabilityAdmin(TutorScopedMixin, ModelAdmin):
    tutor_user_lookup = "tutor__user"
    list_display = ("tutor", "weekday", "start_time", "end_time", "valid_from", "valid_until")
    list_select_related = ("tutor__user",)
    list_filter = (tutor_filter("tutor"), "weekday")
    search_fields = TUTOR_SEARCH
    fields = ("tutor", "weekday", "start_time", "end_time", "valid_from", "valid_until")


@admin.register(DateException)
class DateExceptionAdmin(TutorScopedMixin, ModelAdmin):
    tutor_user_lookup = "tutor__user"
    list_display = ("date", "tutor", "kind", "start_time", "end_time", "note")
    list_select_related = ("tutor__user",)
    list_filter = (tutor_filter("tutor"), "kind")
    search_fields = (*TUTOR_SEARCH, "note")
    date_hierarchy = "date"
    fields = ("tutor", "date", "kind", "start_time", "end_time", "note")
