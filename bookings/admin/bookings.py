"""Bookings and their history. Every change goes through bookings.services.

The booking page and each row of the list offer the booking's actions (confirm, mark paid, send a
payment link, cancel, reschedule, no-show, complete), as the booking's state allows. Each is an
``ActionForm`` (bookings.admin.booking_actions) run by ``ActionAdminMixin``: a small page -- in
unfold's modal when scripts run -- that POSTs back; GET only shows it. The list's bulk actions are
the same forms run once per picked booking.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.decorators import action, display

from backoffice.admin_lists import SafeChangeListMixin
from bookings import services
from bookings.admin.actions import ActionAdminMixin, in_modal
from bookings.admin.base import (
    LargeTablePaginator,
    ReadOnlyChangeMixin,
    ReadOnlyInline,
    ServiceForm,
    ServiceFormMixin,
    TutorScopedMixin,
    money,
    student_search_fields,
    tutor_filter,
)
from bookings.admin.booking_actions import (
    ACTION_FORMS,
    CancelForm,
    CompleteForm,
    ConfirmForm,
    MarkPaidForm,
    MarkPaidSelectedForm,
    NoShowForm,
    RescheduleForm,
    SendPaymentLinkForm,
)
from bookings.admin.booking_columns import BookingColumnsMixin
from bookings.admin.calendar import local_midnight
from bookings.admin.exports import BookingExportResource
from bookings.admin.imports import SpreadsheetImportExportMixin
from bookings.models import Booking, BookingEvent, BookingSource, Payment
from bookings.selectors import with_paid_amount


class DayRangeFilter(RangeDateFilter):
    """Rows whose ``parameter_name`` falls on these days, both ends included, in the centre's time zone.

    The plain range filter compares with midnight, so its "to" day would be left out, and it reads
    days in the default US order while the date picker writes them in the locale's. The bounds are
    aware datetimes (local midnights), so the column's index serves the filter.
    """

    label = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = self.label or self.title

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        form = self.form_class(name=self.parameter_name, data=self.used_parameters)
        form.is_valid()  # a day that does not parse is left out, the other still applies
        if day := form.cleaned_data.get(f"{self.parameter_name}_from"):
            queryset = queryset.filter(**{f"{self.parameter_name}__gte": local_midnight(day)})
        if day := form.cleaned_data.get(f"{self.parameter_name}_to"):
            queryset = queryset.filter(**{f"{self.parameter_name}__lt": local_midnight(day + timedelta(days=1))})
        return queryset


class SessionDayFilter(DayRangeFilter):
    label = "session date"


class BookedDayFilter(DayRangeFilter):
    label = "booked on"


class BookingAddForm(ServiceForm):
    """Books a seat with services.book when the admin saves (validating writes nothing)."""

    class Meta:
        model = Booking
        fields = ("session", "student", "payment_method")

    def perform(self) -> Booking:
        return services.book(
            session=self.cleaned_data["session"],
            student=self.cleaned_data["student"],
            payment_method=self.cleaned_data["payment_method"],
            actor=self.actor,
            source=BookingSource.ADMIN,
        )


class BookingEventInline(ReadOnlyInline, TabularInline):
    model = BookingEvent
    fields = ("created_at", "action", "actor_label", "details")
    readonly_fields = fields
    verbose_name_plural = "history"

    @display(description="Details")
    def details(self, obj: BookingEvent) -> str:
        """The event's data as "reason: student · note: …" for a person, not as JSON."""
        data = obj.data if isinstance(obj.data, dict) else {}
        return " · ".join(f"{key.replace('_', ' ')}: {value}" for key, value in data.items()) or "–"

    def get_queryset(self, request: HttpRequest) -> QuerySet[BookingEvent]:
        return super().get_queryset(request).select_related("actor")

    @display(description="Actor")
    def actor_label(self, obj: BookingEvent) -> str:
        return obj.actor_label


class BookingPaymentInline(ReadOnlyInline, TabularInline):
    model = Payment
    # Read-only inline fields render plain text: unfold's status badges work in lists only.
    fields = ("created_at", "provider", "amount_display", "status", "provider_txn_id", "performed_at")
    readonly_fields = fields
    show_change_link = True

    @display(description="Amount")
    def amount_display(self, obj: Payment) -> str:
        return money(obj.amount, obj.currency)


@admin.register(Booking)
class BookingAdmin(
    BookingColumnsMixin,
    ActionAdminMixin,
    SpreadsheetImportExportMixin,
    ServiceFormMixin,
    ReadOnlyChangeMixin,
    TutorScopedMixin,
    ModelAdmin,
):
    add_form = BookingAddForm
    action_template = "admin/bookings/booking/action.html"
    import_kind = "bookings"
    export_resource = BookingExportResource
    tutor_user_lookup = "session__tutor__user"
    list_display = (
        "reference",
        "student_column",
        "session",
        "status_badge",
        "payment_column",
        "time_left",
        "has_result",
        "created_at",
        "row_actions",
    )
    list_select_related = ("student", "session__product", "session__tutor__user")
    list_filter = (
        "status",
        "payment_method",
        "session__product",
        tutor_filter("session__tutor"),
        ("session__starts_at", SessionDayFilter),
        ("created_at", BookedDayFilter),
        "source",
        "has_result",
        "needs_refund",
    )
    list_filter_submit = True  # the date range is typed in, then applied with the other filters
    search_fields = ("reference", *student_search_fields("student"))
    # No date_hierarchy: its DISTINCT date_trunc and MIN/MAX scan the whole table on every load
    # (0.5-1.9 s at a million bookings, bench/admin_changelist.py); "booked on" filters instead.
    show_full_result_count = False  # the unfiltered COUNT(*) of a large table on every page
    paginator = LargeTablePaginator
    autocomplete_fields = ("session", "student")
    actions = ("confirm_selected", "cancel_selected", "mark_paid_selected")
    # No unfold row menu: 6 actions on 100 rows cost ~120 ms a page (bench/admin_changelist.py);
    # the "actions" column links the ones the booking's state allows, for a few microseconds a row.
    actions_detail = tuple(ACTION_FORMS)
    inlines = (BookingPaymentInline, BookingEventInline)

    class Media:
        js = ("bookings/payment_links.js",)  # the copy buttons (a file: the CSP runs no inline script)

    add_fieldsets = ((None, {"fields": ("session", "student", "payment_method")}),)
    fieldsets = (
        (None, {"fields": ("reference", "status", "cancel_reason", "student", "session")}),
        (
            "Payment",
            {
                "fields": (
                    "payment_method",
                    "price_display",
                    "paid_display",
                    "payment_links",
                    "expires_at",
                    "time_left",
                    "needs_refund",
                )
            },
        ),
        ("Outcome", {"fields": ("has_result", "rescheduled_from", "moved_to")}),
        ("Record", {"fields": ("source", "created_by", "created_at", "confirmed_at", "cancelled_at", "updated_at")}),
    )
    readonly_fields = (
        "reference",
        "status",
        "cancel_reason",
        "student",
        "session",
        "payment_method",
        "price_display",
        "paid_display",
        "payment_links",
        "expires_at",
        "time_left",
        "needs_refund",
        "has_result",
        "rescheduled_from",
        "moved_to",
        "source",
        "created_by",
        "created_at",
        "confirmed_at",
        "cancelled_at",
        "updated_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Booking]:
        # The list, the booking page and the actions all show the student, the session and what
        # was paid: joined and summed here once rather than queried per booking.
        return with_paid_amount(
            super().get_queryset(request).select_related("student", "session__product", "session__tutor__user")
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Booking | None = None) -> tuple[str, ...]:
        return self.readonly_fields if obj is not None else ()

    # --- Deletion: a superuser's last resort, never for a booking that holds a seat ---------------

    def has_delete_permission(self, request: HttpRequest, obj: Booking | None = None) -> bool:
        # Deleting a seat-holding booking would leave Session.seats_taken counting it: cancel it.
        return request.user.is_superuser and (obj is None or not obj.holds_seat)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Bulk delete never sees the objects' has_delete_permission; one at a time it is.
        actions.pop("delete_selected", None)
        return actions

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The history cannot be deleted on its own, but it goes with its booking.
        perms_needed.discard(BookingEvent._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    # --- One booking: row and page actions -------------------------------------------------------

    @in_modal
    @action(description="Confirm", icon="check_circle", permissions=["change"], url_path="confirm")
    def confirm_booking(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, ConfirmForm)

    @in_modal
    @action(description="Mark paid in cash", icon="payments", permissions=["change"], url_path="pay-cash")
    def mark_paid(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, MarkPaidForm)

    @in_modal
    @action(description="Send payment link", icon="link", permissions=["change"], url_path="send-link")
    def send_payment_link(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, SendPaymentLinkForm)

    @in_modal
    @action(description="Cancel", icon="cancel", permissions=["change"], url_path="cancel")
    def cancel_booking(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, CancelForm)

    @in_modal
    @action(description="Reschedule", icon="event_repeat", permissions=["change"], url_path="reschedule")
    def reschedule_booking(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, RescheduleForm)

    @in_modal
    @action(description="No-show", icon="person_off", permissions=["change"], url_path="no-show")
    def mark_no_show(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, NoShowForm)

    @in_modal
    @action(description="Complete", icon="task_alt", permissions=["change"], url_path="complete")
    def complete_booking(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, CompleteForm)

    def get_actions_detail(self, request: HttpRequest, object_id: int | str) -> list:
        actions = super().get_actions_detail(request, object_id)
        booking = self.get_object(request, unquote(str(object_id))) if actions else None
        if booking is None:
            return []
        # The page offers what the booking's state allows (Booking.can_confirm ...); the service
        # checks the same predicate, and explains a refusal when the state changed meanwhile.
        prefix = f"{self.opts.app_label}_{self.opts.model_name}_"
        return [a for a in actions if ACTION_FORMS[a.action_name.removeprefix(prefix)].offered_for(booking)]

    # --- Many bookings: list actions -------------------------------------------------------------

    @admin.action(description="Confirm selected bookings", permissions=["change"])
    def confirm_selected(self, request: HttpRequest, queryset: QuerySet[Booking]) -> HttpResponse | None:
        return self.run_bulk_action(request, queryset.order_by("pk"), ConfirmForm)

    @admin.action(description="Cancel selected bookings…", permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Booking]) -> HttpResponse | None:
        return self.run_bulk_action(request, queryset.order_by("pk"), CancelForm)

    @admin.action(description="Mark selected bookings paid in cash…", permissions=["change"])
    def mark_paid_selected(self, request: HttpRequest, queryset: QuerySet[Booking]) -> HttpResponse | None:
        return self.run_bulk_action(request, queryset.order_by("pk"), MarkPaidSelectedForm)


@admin.register(BookingEvent)
class BookingEventAdmin(SafeChangeListMixin, TutorScopedMixin, ModelAdmin):
    """The append-only history of every booking, newest first. Nobody adds, edits or deletes it."""

    tutor_user_lookup = "booking__session__tutor__user"
    list_display = ("created_at", "booking", "action", "actor_label", "data")
    list_select_related = ("booking", "actor")
    list_filter = ("action",)
    search_fields = ("booking__reference", "action")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    fields = ("booking", "action", "actor", "data", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BookingEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: BookingEvent | None = None) -> bool:
        return False

    @display(description="Actor")
    def actor_label(self, obj: BookingEvent) -> str:
        return obj.actor_label
