"""Tutors, their weekly availability and their days off."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminIntegerFieldWidget

from backoffice.admin_lists import SafeChangeListMixin
from backoffice.models import Role, User
from bookings import services
from bookings.admin.base import TutorScopedMixin, tutor_filter
from bookings.calendar_feed import calendar_url
from bookings.models import Availability, DateException, Tutor

TUTOR_SEARCH = ("tutor__user__first_name", "tutor__user__last_name", "tutor__user__email")


GENERATE_TEMPLATE = "admin/bookings/tutor/generate_sessions.html"

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


class GenerateSessionsForm(forms.Form):
    days = forms.IntegerField(
        min_value=1,
        max_value=90,
        initial=settings.SEATDESK_GENERATE_DAYS,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text="Starting today, in each tutor's time zone; never past the tutor's maximum advance.",
    )


@admin.register(Tutor)
class TutorAdmin(TutorScopedMixin, ModelAdmin):
    tutor_user_lookup = "user"
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
    def regenerate_calendar_links(self, request: HttpRequest, queryset: QuerySet[Tutor]) -> None:
        for tutor in queryset:
            services.regenerate_calendar_token(tutor, actor=request.user)
        self.message_user(request, f"New calendar links for {queryset.count()} tutor(s).", messages.SUCCESS)

    def has_generate_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Generating creates sessions: it takes the right to add them.
        return request.user.has_perm("bookings.add_session")

    @action(description="Generate sessions from availability…", permissions=["generate"])
    def generate_sessions_selected(self, request: HttpRequest, queryset: QuerySet[Tutor]) -> HttpResponse | None:
        return self._generate(request, list(queryset), bulk=True)

    @action(
        description="Generate sessions",
        permissions=["generate"],
        url_path="generate-sessions",
        icon="event_repeat",
    )
    def generate_sessions_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        tutor = self.get_object(request, unquote(object_id))  # through the tutor-scoped queryset
        if tutor is None:
            raise Http404("No such tutor.")
        return self._generate(request, [tutor], bulk=False)

    def _generate(self, request: HttpRequest, tutors: list[Tutor], *, bulk: bool) -> HttpResponse | None:
        """Ask for the number of days (a GET or the list's first POST), then generate on its own POST."""
        if not tutors:  # ids of tutors this user may not see are dropped by the scoped queryset
            self.message_user(request, "No tutors selected.", messages.WARNING)
            return None
        confirmed = request.method == "POST" and request.POST.get("confirm") == "yes"
        form = GenerateSessionsForm(request.POST if confirmed else None)
        if not form.is_valid():
            return self._generate_form(request, tutors, form, bulk=bulk)
        for tutor in tutors:
            report = services.generate_sessions(tutor=tutor, days=form.cleaned_data["days"], actor=request.user)
            (result,) = report.tutors
            level = messages.SUCCESS if result.created else messages.WARNING
            self.message_user(request, result.summary() + ".", level)
            if result.created:
                self.log_change(request, tutor, f"Generated {result.created} session(s) from availability.")
        if bulk:
            return None
        return HttpResponseRedirect(reverse("admin:bookings_tutor_change", args=[tutors[0].pk]))

    def _generate_form(
        self, request: HttpRequest, tutors: list[Tutor], form: GenerateSessionsForm, *, bulk: bool
    ) -> TemplateResponse:
        windows = dict(
            Availability.objects.filter(tutor__in=tutors)
            .values("tutor")
            .annotate(n=Count("pk"))
            .values_list("tutor", "n")
        )
        changelist = reverse("admin:bookings_tutor_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": None if bulk else tutors[0],
            "title": "Generate sessions from availability",
            "rows": [(tutor, windows.get(tutor.pk, 0)) for tutor in tutors],
            "form": form,
            "bulk": bulk,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "back_url": changelist if bulk else reverse("admin:bookings_tutor_change", args=[tutors[0].pk]),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, GENERATE_TEMPLATE, context)

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
    search_fields = TUTOR_SEARCH
    fields = ("tutor", "weekday", "start_time", "end_time", "product", "valid_from", "valid_until")


@admin.register(DateException)
class DateExceptionAdmin(SafeChangeListMixin, TutorScopedMixin, ModelAdmin):
    tutor_user_lookup = "tutor__user"
    list_display = ("date", "tutor", "kind", "start_time", "end_time", "note")
    list_select_related = ("tutor__user",)
    list_filter = (tutor_filter("tutor"), "kind")
    search_fields = (*TUTOR_SEARCH, "note")
    date_hierarchy = "date"
    fields = ("tutor", "date", "kind", "start_time", "end_time", "note")
