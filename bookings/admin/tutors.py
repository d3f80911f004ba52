"""Tutors, their weekly availability and their days off."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from unfold.admin import TabularInline
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminIntegerFieldWidget

from backoffice.admin_lists import ModelAdmin, SafeChangeListMixin
from backoffice.models import Role, User
from bookings import services
from bookings.admin.actions import ActionAdminMixin, ActionForm, BulkOutcome, Report, log_admin_change
from bookings.admin.base import RowCheckboxMixin, TutorScopedMixin, tutor_filter
from bookings.calendar_feed import calendar_url
from bookings.models import Availability, DateException, Tutor
from bookings.services.generation import TutorGeneration

TUTOR_SEARCH = ("tutor__user__first_name", "tutor__user__last_name", "tutor__user__email")


# The request a tutor's page is being drawn for: a read-only field gets only the object, and the
# calendar link is built from the page's own address when SITE_URL is not set.
_PAGE_REQUEST: ContextVar[HttpRequest | None] = ContextVar("tutor_page_request", default=None)


# Column widths of the availability rows: unfold's inputs are as wide as a form's by default, and six of
# them overflowed the inline's box (1,236 px in 1,118), cutting off weekday, product, "valid until" and
# delete. Times are shown as hours and minutes, as the centre writes them.
COMPACT_INPUT = "bookings/widgets/compact_input.html"  # in the app: form widgets render from app templates
AVAILABILITY_WIDTHS = {
    "weekday": "8.5rem",
    "start_time": "7rem",
    "end_time": "7rem",
    "product": "13rem",
    "valid_from": "9.5rem",
    "valid_until": "9.5rem",
}


class AvailabilityInline(TabularInline):
    model = Availability
    fields = ("weekday", "start_time", "end_time", "product", "valid_from", "valid_until")
    extra = 0

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        width = AVAILABILITY_WIDTHS.get(db_field.name)
        if field is not None and width is not None:
            widget = getattr(field.widget, "widget", field.widget)  # inside the related-object wrapper
            widget.attrs["style"] = f"width: {width}; min-width: {width}; max-width: {width}"
            if isinstance(field, forms.TimeField | forms.DateField):
                widget.template_name = COMPACT_INPUT  # unfold's own has a 14rem minimum width
            if isinstance(field, forms.TimeField):
                widget.format = "%H:%M"
        return field

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "product":
            # Read the products once for every row of the inline, not once per row.
            field.choices = list(field.choices)
        return field


class DateExceptionInline(TabularInline):
    model = DateException
    fields = ("date", "kind", "start_time", "end_time", "note")
    extra = 0
    per_page = 20  # years of days off accumulate; unfold paginates the inline


class GenerateSessionsForm(ActionForm):
    title = "Generate sessions from availability"
    description = (
        "Each tutor's weekly availability becomes open sessions, cut into lessons of the tutor's length with "
        "their buffers. Days off, the minimum notice and existing sessions are respected, and sessions created "
        "before are not created again."
    )
    submit_label = "Generate sessions"

    days = forms.IntegerField(
        min_value=1,
        max_value=90,
        initial=settings.SEATDESK_GENERATE_DAYS,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text="Starting today, in each tutor's time zone; never past the tutor's maximum advance.",
    )

    def page_context(self) -> dict[str, Any]:
        # Each tutor with the number of weekly windows its sessions are cut from: one query for all.
        windows = dict(
            Availability.objects.filter(tutor__in=self.objects)
            .values("tutor")
            .annotate(n=Count("pk"))
            .values_list("tutor", "n")
        )
        return {"rows": [(tutor, windows.get(tutor.pk, 0)) for tutor in self.objects]}

    def perform_on(self, obj: Tutor, actor: User | None) -> TutorGeneration:
        (result,) = services.generate_sessions(tutor=obj, days=self.cleaned_data["days"], actor=actor).tutors
        if result.created:
            log_admin_change(actor, [obj], f"Generated {result.created} session(s) from availability.")
        return result

    def report(self, result: TutorGeneration | BulkOutcome) -> Report:
        """One line per tutor: what was created and what was skipped, and why."""
        outcome = result if isinstance(result, BulkOutcome) else BulkOutcome(done=[(self.target, result)])
        shown = [(messages.ERROR, f"{tutor}: {exc.message}") for tutor, exc in outcome.refused]
        for _, generation in outcome.done:
            level = messages.SUCCESS if generation.created else messages.WARNING
            shown.append((level, generation.summary() + "."))
        return shown


class RegenerateCalendarLinksForm(ActionForm):
    """New private calendar links: the old ones stop working (for a link that leaked)."""

    ask_first = False

    def perform_on(self, obj: Tutor, actor: User | None) -> Tutor:
        return services.regenerate_calendar_token(obj, actor=actor)

    def bulk_message(self, outcome: BulkOutcome) -> str:
        return f"New calendar links for {len(outcome.done)} tutor(s)."


@admin.register(Tutor)
class TutorAdmin(RowCheckboxMixin, ActionAdminMixin, TutorScopedMixin, ModelAdmin):
    tutor_user_lookup = "user"
    action_template = "admin/bookings/tutor/generate_sessions.html"
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
    actions = ("generate_sessions_selected", "regenerate_calendar_links")
    actions_detail = ("generate_sessions_detail",)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        token = _PAGE_REQUEST.set(request)
        try:
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()  # while the request is known: the calendar link is drawn from it
            return response
        finally:
            _PAGE_REQUEST.reset(token)

    @display(description="Private calendar feed")
    def calendar_link(self, obj: Tutor) -> str:
        if obj.pk is None:
            return "Created with the tutor."
        url = calendar_url(obj, _PAGE_REQUEST.get())
        return format_html(
            '<a href="{}" class="text-primary-600 break-all">{}</a><br><span class="text-xs">Subscribe to this '
            "address in Google Calendar (Other calendars → From URL) or Apple Calendar (File → New Calendar "
            "Subscription). Anyone with the link sees the schedule: regenerate it from the tutors list if it "
            "leaks.</span>",
            url,
            url,
        )

    @admin.action(description="Regenerate calendar links (old links stop working)", permissions=["change"])
    def regenerate_calendar_links(self, request: HttpRequest, queryset: QuerySet[Tutor]) -> HttpResponse | None:
        return self.run_bulk_action(request, queryset, RegenerateCalendarLinksForm)

    def has_generate_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Generating creates sessions: it takes the right to add them.
        return request.user.has_perm("bookings.add_session")

    @action(description="Generate sessions from availability…", permissions=["generate"])
    def generate_sessions_selected(self, request: HttpRequest, queryset: QuerySet[Tutor]) -> HttpResponse | None:
        return self.run_bulk_action(request, queryset, GenerateSessionsForm)

    @action(
        description="Generate sessions",
        permissions=["generate"],
        url_path="generate-sessions",
        icon="event_repeat",
    )
    def generate_sessions_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, GenerateSessionsForm)

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
    list_display = ("tutor", "weekday", "start_time", "end_time", "product", "valid_from", "valid_until")
    list_select_related = ("tutor__user", "product")
    list_filter = (tutor_filter("tutor"), "weekday")
    list_filter_submit = True  # the tutor is picked from a drop-down, applied with the other filters
    search_fields = TUTOR_SEARCH
    fields = ("tutor", "weekday", "start_time", "end_time", "product", "valid_from", "valid_until")


@admin.register(DateException)
class DateExceptionAdmin(SafeChangeListMixin, TutorScopedMixin, ModelAdmin):
    tutor_user_lookup = "tutor__user"
    list_display = ("date", "tutor", "kind", "start_time", "end_time", "note")
    list_select_related = ("tutor__user",)
    list_filter = (tutor_filter("tutor"), "kind")
    list_filter_submit = True  # the tutor is picked from a drop-down, applied with the other filters
    search_fields = (*TUTOR_SEARCH, "note")
    date_hierarchy = "date"
    fields = ("tutor", "date", "kind", "start_time", "end_time", "note")
