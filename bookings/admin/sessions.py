"""Sessions: dated sittings of a product. Seat counts belong to the booking services.

Cancelling, closing, reopening and duplicating are admin actions, in bulk from the list and one at
a time from the session's page. Each calls one service per session, so one refusal stops no other;
the ones that need words or a number from staff (cancel, duplicate) first show a form that posts
back, and nothing changes until that second POST.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.admin.utils import unquote
from django.db import router, transaction
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.decorators import action, display
from unfold.enums import ActionVariant
from unfold.widgets import UnfoldAdminIntegerFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget

from backoffice.admin_lists import SafeChangeListMixin
from bookings import services
from bookings.admin.base import (
    SESSION_STATUS_COLOURS,
    ReadOnlyInline,
    ServiceForm,
    TutorScopedMixin,
    tutor_filter,
)
from bookings.admin.calendar import calendar_view, local_midnight
from bookings.admin.exports import SessionExportResource
from bookings.admin.imports import SpreadsheetImportExportMixin
from bookings.admin.session_history import history_table
from bookings.errors import BookingError
from bookings.models import Booking, CancelReason, Session, SessionStatus
from bookings.selectors import with_seat_counts
from bookings.services.schedule import MAX_CAPACITY
from bookings.services.sessions import BOOKED_FIELDS, MAX_DUPLICATE_WEEKS
from bookings.templatetags.seats import session_seats_html

# What the session form edits; seats_taken is the booking services' alone.
SESSION_FIELDS = ("product", "tutor", "room", "starts_at", "ends_at", "capacity", "status")

ACTION_TEMPLATE = "admin/bookings/session/action_form.html"


def when(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%a %d %b %Y %H:%M}"


class SessionForm(ServiceForm):
    """Adds a session with services.create_session, or applies an edit with services.update_session.

    The edit is one service call, made once every field is valid: it is applied whole or refused
    whole, and a refusal is shown on the form (on its field when it names one) with nothing saved.
    """

    class Meta:
        model = Session
        fields = SESSION_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "ends_at" in self.fields:
            self.fields["ends_at"].required = False
            self.fields["ends_at"].help_text = "Leave empty: the start plus the product's duration."
        if "capacity" in self.fields:
            self.fields["capacity"].required = False
            limit = f"1 to {MAX_CAPACITY}, a lesson at most its product's"
            self.fields["capacity"].help_text = f"{limit}. Leave empty: the product's default capacity."

    def perform(self) -> Session:
        data = self.cleaned_data
        if self.instance.pk is None:
            return services.create_session(
                product=data["product"],
                tutor=data.get("tutor"),
                room=data.get("room", ""),
                starts_at=data["starts_at"],
                ends_at=data.get("ends_at"),
                capacity=data.get("capacity"),
                status=data.get("status") or SessionStatus.OPEN,
                actor=self.actor,
            )
        # Only what was changed on the page: the rest may have been changed by someone else since.
        changed = {name: data[name] for name in self.changed_data if name in SESSION_FIELDS}
        return services.update_session(self.instance, **changed, actor=self.actor)


class CancelSessionsForm(forms.Form):
    reason = forms.ChoiceField(
        label="Cancelled by",
        choices=[(CancelReason.STAFF, "The centre (staff)"), (CancelReason.TUTOR, "The tutor")],
        initial=CancelReason.STAFF,
        widget=UnfoldAdminSelectWidget,
    )
    note = forms.CharField(
        label="Reason",
        max_length=500,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text="Kept in every cancelled booking's history and in the session's admin log.",
    )


class DuplicateSessionsForm(forms.Form):
    weeks = forms.IntegerField(
        label="Weeks",
        min_value=1,
        max_value=MAX_DUPLICATE_WEEKS,
        initial=4,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text=(
            f"1 to {MAX_DUPLICATE_WEEKS}. Each copy is on the same weekday at the same local time; "
            "weeks where the tutor is already busy are skipped."
        ),
    )


class StartsBetweenFilter(RangeDateFilter):
    """Local calendar days, both ends included.

    unfold's own filter compares the datetime column with bare dates (dropping the last day's
    sessions) and reads the dates with the global input formats, not the locale's that its date
    picker writes (10/06 is 10 June in en-gb, 6 October to ``%m/%d/%Y``).
    """

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        bounds = {}
        if first := self._day("from"):
            bounds[f"{self.parameter_name}__gte"] = local_midnight(first)
        if last := self._day("to"):
            bounds[f"{self.parameter_name}__lt"] = local_midnight(last + timedelta(days=1))
        return queryset.filter(**bounds)

    def _day(self, end: str) -> date | None:
        try:
            return forms.DateField(required=False).clean(self.used_parameters.get(f"{self.parameter_name}_{end}"))
        except forms.ValidationError:
            return None  # the filter's form shows the error; the list stays unfiltered on that end


class SessionBookingInline(ReadOnlyInline, TabularInline):
    model = Booking
    fields = ("reference", "student", "status", "payment_method", "time_left", "created_at")
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "bookings"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Booking]:
        return super().get_queryset(request).select_related("student")

    @display(description="Time left")
    def time_left(self, obj: Booking) -> str:
        return obj.time_left_display


@admin.register(Session)
class SessionAdmin(SpreadsheetImportExportMixin, SafeChangeListMixin, TutorScopedMixin, ModelAdmin):
    form = SessionForm
    import_kind = "sessions"
    export_resource = SessionExportResource
    tutor_user_lookup = "tutor__user"
    list_display = ("starts", "product", "tutor", "room", "seats", "status_badge", "source")
    list_select_related = ("product", "tutor__user")
    list_filter = ("status", "product", tutor_filter("tutor"), ("starts_at", StartsBetweenFilter), "source")
    list_filter_submit = True  # the date range has inputs; the other filters are links
    search_fields = ("product__name", "product__code", "room", "tutor__user__first_name", "tutor__user__last_name")
    date_hierarchy = "starts_at"
    inlines = (SessionBookingInline,)
    actions = ("cancel_sessions", "close_sessions", "open_sessions", "duplicate_sessions")
    actions_detail = ("cancel_detail", "close_detail", "open_detail", "duplicate_detail")
    fieldsets = (
        (None, {"fields": ("product", "tutor", "room", "status")}),
        ("Time", {"fields": ("starts_at", "ends_at")}),
        ("Seats", {"fields": ("capacity", "seats")}),
        ("Record", {"fields": ("source", "created_by", "created_at")}),
    )
    readonly_fields = ("seats", "source", "created_by", "created_at")

    def get_urls(self) -> list[URLPattern]:
        calendar = path("calendar/", self.admin_site.admin_view(self.calendar_view), name="bookings_session_calendar")
        # Ahead of the admin's own patterns: "<path:object_id>/" would take "calendar/" for an id.
        return [calendar, *super().get_urls()]

    def calendar_view(self, request: HttpRequest) -> HttpResponse:
        return calendar_view(request, self)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        # A session's label names its product and tutor: the booking form's autocomplete lists
        # sessions through this queryset, and would query both per row without this. The seats
        # figure of a started session is its attendance, counted in the same query.
        return with_seat_counts(super().get_queryset(request).select_related("product", "tutor__user"))

    def get_readonly_fields(self, request: HttpRequest, obj: Session | None = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and obj.seats_taken:
            # Students booked this product at this time; move them with reschedule instead.
            readonly += BOOKED_FIELDS
        return readonly

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if request.GET.get("model_name") == "booking" and request.GET.get("field_name") == "session":
            # The booking form's session picker offers only sessions that can still be booked.
            queryset = queryset.filter(status=SessionStatus.OPEN, starts_at__gt=timezone.now())
        return queryset, may_have_duplicates

    def get_form(self, request: HttpRequest, obj: Session | None = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user  # a new class per request (modelform_factory)
        return form

    def save_model(self, request: HttpRequest, obj: Session, form: forms.ModelForm, change: bool) -> None:
        return  # the form's service call (create_session or update_session) has saved it

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Session | None = None,
    ) -> HttpResponse:
        if obj is not None and obj.pk is not None:
            context["session_history"] = history_table(obj)  # below the bookings, on the page's template
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        # A POST that ends on the form again was not saved: its form or an inline had an error. The
        # form's service call (create_session / update_session) may have succeeded before an inline
        # failed; undo it, so an edit is saved whole or not at all. The page renders after this
        # block, from the form's own data.
        with transaction.atomic(using=router.db_for_write(self.model)):
            response = self._changeform_view(request, object_id, form_url, extra_context)
            if not isinstance(response, HttpResponseRedirect):
                transaction.set_rollback(True)
        return response

    # --- Columns ---------------------------------------------------------------------------------

    @display(description="Starts", ordering="starts_at")
    def starts(self, obj: Session) -> str:
        return when(obj.starts_at)

    @display(description="Seats", ordering=F("capacity") - F("seats_taken"))
    def seats(self, obj: Session) -> str | None:
        if obj.pk is None:
            return None  # the add page
        # The one notation (bookings.selectors), updated live by the realtime client.
        return session_seats_html(obj)

    @display(description="Status", ordering="status", label=SESSION_STATUS_COLOURS)
    def status_badge(self, obj: Session) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    # --- Actions ---------------------------------------------------------------------------------

    def has_duplicate_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Duplicating creates sessions: it takes the right to add them as well as to change them.
        return self.has_add_permission(request) and self.has_change_permission(request, obj)

    def get_actions_detail(self, request: HttpRequest, object_id: int | str) -> list:
        """Offer only what the session's status allows (a closed session has no "Close" button)."""
        offered = super().get_actions_detail(request, object_id)
        session = self.get_object(request, unquote(str(object_id)))
        if session is None:
            return offered
        allowed = {
            "cancel_detail": session.status != SessionStatus.CANCELLED,
            "close_detail": session.status == SessionStatus.OPEN,
            "open_detail": session.status == SessionStatus.CLOSED and not session.has_started,
        }
        return [a for a in offered if allowed.get(a.action_name.removeprefix("bookings_session_"), True)]

    @action(description="Cancel sessions and their bookings…", permissions=["change"])
    def cancel_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> HttpResponse | None:
        return self._cancel(request, list(queryset.order_by("starts_at", "pk")), bulk=True)

    @action(
        description="Cancel session",
        permissions=["change"],
        url_path="cancel",
        icon="event_busy",
        variant=ActionVariant.DANGER,
    )
    def cancel_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._cancel(request, [self._own_session(request, object_id)], bulk=False)

    @action(description="Close sessions to new bookings", permissions=["change"])
    def close_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        self._each(request, queryset, services.close_session, "closed to new bookings")

    @action(description="Close", permissions=["change"], url_path="close", icon="lock")
    def close_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._status_detail(request, object_id, services.close_session, "closed to new bookings")

    @action(description="Reopen sessions for bookings", permissions=["change"])
    def open_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        self._each(request, queryset, services.reopen_session, "reopened for bookings")

    @action(description="Reopen", permissions=["change"], url_path="open", icon="lock_open")
    def open_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._status_detail(request, object_id, services.reopen_session, "reopened for bookings")

    @action(description="Duplicate weekly…", permissions=["duplicate"])
    def duplicate_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> HttpResponse | None:
        return self._duplicate(request, list(queryset.order_by("starts_at", "pk")), bulk=True)

    @action(description="Duplicate weekly", permissions=["duplicate"], url_path="duplicate", icon="event_repeat")
    def duplicate_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._duplicate(request, [self._own_session(request, object_id)], bulk=False)

    # --- How the actions work --------------------------------------------------------------------

    def _own_session(self, request: HttpRequest, object_id: str) -> Session:
        """The session behind a detail action's URL, through the (tutor-scoped) admin queryset."""
        session = self.get_object(request, unquote(object_id))
        if session is None:
            raise Http404("No such session.")
        return session

    def _confirmed(self, request: HttpRequest, form_class: type[forms.Form]) -> forms.Form:
        """The action's form: bound only to the POST made from its own page, never to a GET."""
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            return form_class(request.POST)
        return form_class()

    def _cancel(self, request: HttpRequest, sessions: list[Session], *, bulk: bool) -> HttpResponse | None:
        form = self._confirmed(request, CancelSessionsForm)
        if not (form.is_bound and form.is_valid()):
            return self._render(
                request,
                sessions,
                form,
                bulk=bulk,
                action_name="cancel_sessions" if bulk else "",
                title="Cancel sessions" if bulk else "Cancel session",
                intro=(
                    "Every pending and confirmed booking is cancelled with its session, and the student "
                    "and the tutor are told."
                ),
                submit="Cancel sessions and their bookings" if bulk else "Cancel the session and its bookings",
                danger=True,
                show_bookings=True,
            )
        reason, note = form.cleaned_data["reason"], form.cleaned_data["note"]
        cancelled, bookings = [], 0
        for session in sessions:
            try:
                count = services.cancel_session(session, reason=reason, actor=request.user, note=note)
            except BookingError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            cancelled.append(session)
            bookings += count
            self.log_change(request, session, f"Cancelled with {count} booking(s): {note}")
        if cancelled:
            self.message_user(
                request, f"Cancelled {len(cancelled)} session(s) and {bookings} booking(s).", messages.SUCCESS
            )
        return None if bulk else self._back_to(sessions[0])

    def _duplicate(self, request: HttpRequest, sessions: list[Session], *, bulk: bool) -> HttpResponse | None:
        form = self._confirmed(request, DuplicateSessionsForm)
        if not (form.is_bound and form.is_valid()):
            return self._render(
                request,
                sessions,
                form,
                bulk=bulk,
                action_name="duplicate_sessions" if bulk else "",
                title="Duplicate weekly",
                intro="Copies product, tutor, room, capacity and length to the same weekday and local time.",
                submit="Duplicate",
            )
        weeks = form.cleaned_data["weeks"]
        for session in sessions:
            try:
                result = services.duplicate_session(session, weeks=weeks, actor=request.user)
            except BookingError as exc:
                self.message_user(request, f"{session}: {exc.message}", messages.ERROR)
                continue
            if result.created:
                LogEntry.objects.log_actions(
                    user_id=request.user.pk,
                    queryset=result.created,
                    action_flag=ADDITION,
                    change_message=f"Duplicated from session {session.pk}",
                )
            self.message_user(
                request,
                f"{session}: created {len(result.created)} session(s).",
                messages.SUCCESS if result.created else messages.WARNING,
            )
            if result.skipped:
                skipped = "; ".join(f"{when(s.starts_at)} ({s.reason})" for s in result.skipped)
                self.message_user(request, f"Skipped {len(result.skipped)}: {skipped}.", messages.WARNING)
        return None if bulk else self._back_to(sessions[0])

    def _status_detail(
        self, request: HttpRequest, object_id: str, change: Callable[..., Session], done: str
    ) -> HttpResponse:
        """Close or reopen one session: a GET shows what will happen, its POST does it."""
        session = self._own_session(request, object_id)
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            self._each(request, [session], change, done)
            return self._back_to(session)
        verb = "Close" if change is services.close_session else "Reopen"
        return self._render(
            request,
            [session],
            forms.Form(),
            bulk=False,
            action_name="",
            title=f"{verb} session",
            intro=f"The session will be {done}. Existing bookings keep their seats.",
            submit=verb,
        )

    def _each(
        self, request: HttpRequest, sessions: Iterable[Session], change: Callable[..., Session], done: str
    ) -> None:
        changed = 0
        for session in sessions:
            try:
                change(session, actor=request.user)
            except BookingError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                changed += 1
                self.log_change(request, session, done.capitalize())
        if changed:
            self.message_user(request, f"{changed} session(s) {done}.", messages.SUCCESS)

    def _render(
        self,
        request: HttpRequest,
        sessions: list[Session],
        form: forms.Form,
        *,
        bulk: bool,
        action_name: str,
        title: str,
        intro: str,
        submit: str,
        danger: bool = False,
        show_bookings: bool = False,
    ) -> TemplateResponse:
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "original": None if bulk else sessions[0],
            "title": title,
            "intro": intro,
            "sessions": sessions,
            "form": form,
            "bulk": bulk,
            "action_name": action_name,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "submit_label": submit,
            "danger": danger,
            "show_bookings": show_bookings,
            "bookings_total": sum(s.seats_taken for s in sessions),
            # A bulk action is posted to the list's own URL, filters and all: back to that list.
            "back_url": request.get_full_path()
            if bulk
            else reverse("admin:bookings_session_change", args=[sessions[0].pk]),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    def _back_to(self, session: Session) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:bookings_session_change", args=[session.pk]))
