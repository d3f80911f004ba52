"""Sessions: dated sittings of a product. Seat counts belong to the booking services.

Cancelling, closing, reopening and duplicating are ``ActionForm``s (bookings.admin.actions), in
bulk from the list and one at a time from the session's page. Each calls one service per session,
so one refusal stops no other; the ones that need words or a number from staff (cancel, duplicate)
show their page first, and nothing changes until that page's POST.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION
from django.contrib.admin.utils import unquote
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.decorators import action, display
from unfold.enums import ActionVariant
from unfold.widgets import UnfoldAdminIntegerFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget

from backoffice.admin_lists import ModelAdmin, SafeChangeListMixin
from backoffice.models import User
from bookings import services
from bookings.admin.actions import ActionAdminMixin, ActionForm, BulkOutcome, Report, log_admin_change
from bookings.admin.base import (
    SESSION_STATUS_COLOURS,
    BookButtonMixin,
    ReadOnlyInline,
    RowCheckboxMixin,
    ServiceForm,
    ServiceFormMixin,
    TutorScopedMixin,
    admin_link,
    badge,
    tutor_filter,
    viewer_time,
)
from bookings.admin.calendar import calendar_view, local_midnight
from bookings.admin.exports import SessionExportResource
from bookings.admin.imports import SpreadsheetImportExportMixin
from bookings.admin.session_filters import WhenFilter
from bookings.admin.session_history import history_table
from bookings.models import Booking, CancelReason, Session, SessionStatus
from bookings.selectors import viewer_timezone, with_seat_counts, zone_label
from bookings.services.schedule import MAX_CAPACITY
from bookings.services.sessions import BOOKED_FIELDS, MAX_DUPLICATE_WEEKS, STATUS_CHANGES, Duplication
from bookings.templatetags.seats import session_seats_html

# What the session form edits; seats_taken is the booking services' alone.
SESSION_FIELDS = ("product", "tutor", "room", "starts_at", "ends_at", "capacity", "status")


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


class SessionActionForm(ActionForm):
    noun = "session"

    def perform_on(self, obj: Session, actor: User | None) -> Any:
        raise NotImplementedError


class CancelSessionForm(SessionActionForm):
    title = "Cancel session"
    bulk_title = "Cancel sessions"
    description = (
        "Every pending and confirmed booking is cancelled with its session, and the student and the tutor are told."
    )
    submit_label = "Cancel the session and its bookings"
    bulk_submit_label = "Cancel sessions and their bookings"
    submit_variant = "danger"

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

    @classmethod
    def offered_for(cls, obj: Session) -> bool:
        return obj.status in STATUS_CHANGES[SessionStatus.CANCELLED][0]

    def page_context(self) -> dict[str, Any]:
        return {"show_bookings": True, "bookings_total": sum(s.seats_taken for s in self.objects)}

    def perform_on(self, obj: Session, actor: User | None) -> int:
        note = self.cleaned_data["note"]
        count = services.cancel_session(obj, reason=self.cleaned_data["reason"], actor=actor, note=note)
        log_admin_change(actor, [obj], f"Cancelled with {count} booking(s): {note}")
        return count

    def success_message(self, result: int) -> str:
        return f"Cancelled 1 session(s) and {result} booking(s)."

    def bulk_message(self, outcome: BulkOutcome) -> str:
        bookings = sum(count for _, count in outcome.done)
        return f"Cancelled {len(outcome.done)} session(s) and {bookings} booking(s)."


class SessionStatusForm(SessionActionForm):
    """Close or reopen: nothing to ask, so the list acts at once; the session's page asks first."""

    ask_first = False
    to: str = ""

    def perform_on(self, obj: Session, actor: User | None) -> Session:
        change = services.close_session if self.to == SessionStatus.CLOSED else services.reopen_session
        session = change(obj, actor=actor)
        log_admin_change(actor, [obj], self.done.capitalize())
        return session

    def success_message(self, result: Session) -> str:
        return f"1 session(s) {self.done}."

    def bulk_message(self, outcome: BulkOutcome) -> str:
        return f"{len(outcome.done)} session(s) {self.done}."


class CloseSessionForm(SessionStatusForm):
    title = "Close session"
    description = "The session will be closed to new bookings. Existing bookings keep their seats."
    submit_label = "Close"
    to = SessionStatus.CLOSED
    done = "closed to new bookings"

    @classmethod
    def offered_for(cls, obj: Session) -> bool:
        return obj.status in STATUS_CHANGES[SessionStatus.CLOSED][0]


class ReopenSessionForm(SessionStatusForm):
    title = "Reopen session"
    description = "The session will be reopened for bookings. Existing bookings keep their seats."
    submit_label = "Reopen"
    to = SessionStatus.OPEN
    done = "reopened for bookings"

    @classmethod
    def offered_for(cls, obj: Session) -> bool:
        # A started session stays closed: the schedule refuses an open session in the past.
        return obj.status in STATUS_CHANGES[SessionStatus.OPEN][0] and not obj.has_started


class DuplicateSessionsForm(SessionActionForm):
    title = "Duplicate weekly"
    description = "Copies product, tutor, room, capacity and length to the same weekday and local time."
    submit_label = "Duplicate"

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

    def perform_on(self, obj: Session, actor: User | None) -> Duplication:
        result = services.duplicate_session(obj, weeks=self.cleaned_data["weeks"], actor=actor)
        log_admin_change(actor, result.created, f"Duplicated from session {obj.pk}", flag=ADDITION)
        return result

    def report(self, result: Duplication | BulkOutcome) -> Report:
        """Per session: what was created, and the weeks skipped with why."""
        outcome = result if isinstance(result, BulkOutcome) else BulkOutcome(done=[(self.target, result)])
        shown = [(messages.ERROR, f"{session}: {exc.message}") for session, exc in outcome.refused]
        for session, duplication in outcome.done:
            created, skipped = duplication.created, duplication.skipped
            level = messages.SUCCESS if created else messages.WARNING
            shown.append((level, f"{session}: created {len(created)} session(s)."))
            if skipped:
                listed = "; ".join(f"{when(s.starts_at)} ({s.reason})" for s in skipped)
                shown.append((messages.WARNING, f"Skipped {len(skipped)}: {listed}."))
        return shown


# The session page's actions by the admin's method name.
DETAIL_FORMS: dict[str, type[SessionActionForm]] = {
    "cancel_detail": CancelSessionForm,
    "close_detail": CloseSessionForm,
    "open_detail": ReopenSessionForm,
    "duplicate_detail": DuplicateSessionsForm,
}


def offered_on_page(name: str, session: Session) -> bool:
    """Whether the session's page offers the action ``name``: booking a student while the session is
    open and has not started (the booking service judges the rest), the others as their forms say."""
    if name == "book_student":
        return session.status == SessionStatus.OPEN and not session.has_started
    return DETAIL_FORMS[name].offered_for(session)


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
    fields = ("reference", "student_link", "student_phone", "status", "payment_method", "time_left", "booked_at")
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "bookings"
    # Inline instances are made per request: get_queryset keeps the request for the columns below.
    request: HttpRequest | None = None

    @display(description="Student")
    def student_link(self, obj: Booking) -> str:
        return admin_link(self.request, obj.student) if self.request else str(obj.student)

    @display(description="Phone")
    def student_phone(self, obj: Booking) -> str:
        return obj.student.phone_display or "–"

    @display(description="Booked")
    def booked_at(self, obj: Booking) -> str:
        return viewer_time(self.request, obj.created_at) if self.request else when(obj.created_at)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Booking]:
        self.request = request
        return super().get_queryset(request).select_related("student")

    @display(description="Time left")
    def time_left(self, obj: Booking) -> str:
        return obj.time_left_display


@admin.register(Session)
class SessionAdmin(
    RowCheckboxMixin,
    BookButtonMixin,
    ActionAdminMixin,
    ServiceFormMixin,
    SpreadsheetImportExportMixin,
    SafeChangeListMixin,
    TutorScopedMixin,
    ModelAdmin,
):
    form = SessionForm
    action_template = "admin/bookings/session/action_form.html"
    import_kind = "sessions"
    export_resource = SessionExportResource
    tutor_user_lookup = "tutor__user"
    list_display = ("starts", "product", "tutor", "room", "seats", "status_badge", "source")
    list_select_related = ("product", "tutor__user")
    list_filter = (WhenFilter, "status", "product", tutor_filter("tutor"), ("starts_at", StartsBetweenFilter), "source")
    list_filter_submit = True  # the date range has inputs and the tutor a drop-down; the other filters are links
    search_fields = ("product__name", "product__code", "room", "tutor__user__first_name", "tutor__user__last_name")
    date_hierarchy = "starts_at"
    inlines = (SessionBookingInline,)
    actions = ("cancel_sessions", "close_sessions", "open_sessions", "duplicate_sessions")
    actions_detail = ("book_student", "cancel_detail", "close_detail", "open_detail", "duplicate_detail")
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
            context["session_history"] = history_table(obj, request)  # below the bookings, on the page's template
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_ordering(self, request: HttpRequest) -> list[str] | tuple[str, ...]:
        # Past sessions latest first; upcoming ones soonest first (the model's order).
        if request.GET.get(WhenFilter.parameter_name) == "past":
            return ("-starts_at", "-id")
        return super().get_ordering(request)

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        if not zone_label(viewer_timezone(request.user)):
            return list(self.list_display)

        def starts(obj: Session) -> str:  # a tutor in another zone reads their own clock, labelled
            return viewer_time(request, obj.starts_at)

        starts.short_description, starts.admin_order_field = "Starts", "starts_at"
        return [starts if name == "starts" else name for name in self.list_display]

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

    @display(description="Status", ordering="status")
    def status_badge(self, obj: Session) -> str:
        return badge(obj.get_status_display(), SESSION_STATUS_COLOURS.get(obj.status))

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
        prefix = f"{self.opts.app_label}_{self.opts.model_name}_"
        return [a for a in offered if offered_on_page(a.action_name.removeprefix(prefix), session)]

    @action(
        description="Book a student",
        permissions=["book"],  # a tutor cannot add bookings: no button, and a 403 (BookButtonMixin)
        url_path="book-student",
        icon="person_add",
    )
    def book_student(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The add-booking form with this session chosen."""
        session = self.get_object(request, unquote(object_id))
        if session is None:
            raise Http404("No such session.")
        return HttpResponseRedirect(f"{reverse('admin:bookings_booking_add')}?session={session.pk}")

    @action(description="Cancel sessions and their bookings…", permissions=["change"])
    def cancel_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> HttpResponse | None:
        return self.run_bulk_action(request, queryset.order_by("starts_at", "pk"), CancelSessionForm)

    @action(
        description="Cancel session",
        permissions=["change"],
        url_path="cancel",
        icon="event_busy",
        variant=ActionVariant.DANGER,
    )
    def cancel_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, CancelSessionForm)

    @action(description="Close sessions to new bookings", permissions=["change"])
    def close_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> HttpResponse | None:
        return self.run_bulk_action(request, queryset.order_by("starts_at", "pk"), CloseSessionForm)

    @action(description="Close", permissions=["change"], url_path="close", icon="lock")
    def close_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, CloseSessionForm)

    @action(description="Reopen sessions for bookings", permissions=["change"])
    def open_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> HttpResponse | None:
        return self.run_bulk_action(request, queryset.order_by("starts_at", "pk"), ReopenSessionForm)

    @action(description="Reopen", permissions=["change"], url_path="open", icon="lock_open")
    def open_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, ReopenSessionForm)

    @action(description="Duplicate weekly…", permissions=["duplicate"])
    def duplicate_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> HttpResponse | None:
        return self.run_bulk_action(request, queryset.order_by("starts_at", "pk"), DuplicateSessionsForm)

    @action(description="Duplicate weekly", permissions=["duplicate"], url_path="duplicate", icon="event_repeat")
    def duplicate_detail(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, DuplicateSessionsForm)
