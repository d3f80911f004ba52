"""Bookings and their history. Every change goes through bookings.services.

The booking page and each row of the list offer the booking's actions (confirm, mark paid, send a
payment link, cancel, reschedule, no-show, complete), as the booking's state allows. Each is an
``ActionForm`` (bookings.admin.booking_actions) run by ``ActionAdminMixin``: a small page -- in
unfold's modal when scripts run -- that POSTs back; GET only shows it. The list's bulk actions are
the same forms run once per picked booking.

Booking on the phone: the add form's session and student pickers are this admin's own endpoints
(``pick_session_view``, ``pick_student_view``), asking the read rules in bookings.selectors; a cash
payment has a printable receipt (``receipt_view``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.decorators import action, display

from backoffice.admin_lists import ModelAdmin
from backoffice.models import User
from bookings import services
from bookings.admin.actions import ActionAdminMixin, in_modal
from bookings.admin.base import (
    LargeTablePaginator,
    ReadOnlyChangeMixin,
    ReadOnlyInline,
    RowCheckboxMixin,
    ServiceForm,
    ServiceFormMixin,
    TutorScopedMixin,
    money,
    object_or_404,
    parse_pk,
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
    receipt_link,
)
from bookings.admin.booking_columns import BookingColumnsMixin
from bookings.admin.booking_history import BookingEventInline
from bookings.admin.calendar import local_midnight
from bookings.admin.exports import BookingExportResource
from bookings.admin.imports import SpreadsheetImportExportMixin
from bookings.models import Booking, BookingEvent, BookingSource, Payment, PaymentProvider, Session
from bookings.selectors import (
    live_booking_for,
    seats_text,
    sessions_to_book,
    student_search,
    students_matching,
    with_paid_amount,
)

PICKER_PAGE = 20  # options per page of a picker; select2 asks for the next page as one scrolls
MAX_PICKER_PAGE = 1000


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


def session_option(session: Session) -> str:
    """A session as the desk reads it out: "Wed 09 Dec 09:00 · IELTS mock · Hall A · 12 of 30 left"."""
    seats = seats_text(status=session.status, capacity=session.capacity, seats_taken=session.seats_taken)
    parts = (f"{timezone.localtime(session.starts_at):%a %d %b %H:%M}", session.product.name, session.room, seats)
    return " · ".join(part for part in parts if part)


def student_option(student: User) -> str:
    """A student as the desk reads them out: "Dilnoza Karimova · +998 90 123 45 67"."""
    return " · ".join(part for part in (str(student), student.phone_display or student.email) if part)


class SessionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Session) -> str:
        return session_option(obj)


class StudentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return student_option(obj)


class PickerWidget(AutocompleteSelect):
    """Django's autocomplete select, asking the booking admin's own picker ("session" or "student")."""

    def __init__(self, field: Any, admin_site: Any, picker: str, **kwargs: Any) -> None:
        super().__init__(field, admin_site, **kwargs)
        self.picker = picker

    def get_url(self) -> str:
        return reverse(f"{self.admin_site.name}:bookings_booking_pick_{self.picker}")

    def build_attrs(self, base_attrs: dict[str, Any], extra_attrs: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**super().build_attrs(base_attrs, extra_attrs), "data-picker": self.picker}

    @property
    def media(self) -> forms.Media:
        # After autocomplete.js: the session picker sends the chosen student along.
        return super().media + forms.Media(js=["bookings/booking_pickers.js"])


# The add form's pickers: each field's form field class and its choices (the service judges the rest).
PICKERS: dict[str, tuple[type[forms.ModelChoiceField], Callable[[], QuerySet]]] = {
    "session": (SessionChoiceField, lambda: Session.objects.select_related("product")),
    "student": (StudentChoiceField, lambda: User.objects.all()),
}


def picker_response(request: HttpRequest, queryset: QuerySet, label: Callable[[Any], str]) -> JsonResponse:
    """One page of options as select2 reads them; a page more is fetched only to know there is one."""
    try:
        page = min(max(int(request.GET.get("page") or 1), 1), MAX_PICKER_PAGE)
    except ValueError:
        page = 1  # junk: the first page
    first = (page - 1) * PICKER_PAGE
    rows = list(queryset[first : first + PICKER_PAGE + 1])
    return JsonResponse(
        {
            "results": [{"id": str(obj.pk), "text": label(obj)} for obj in rows[:PICKER_PAGE]],
            "pagination": {"more": len(rows) > PICKER_PAGE},
        }
    )


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


class BookingPaymentInline(ReadOnlyInline, TabularInline):
    model = Payment
    # Read-only inline fields render plain text: unfold's status badges work in lists only.
    fields = ("created_at", "provider", "amount_display", "status", "provider_txn_id", "performed_at")
    readonly_fields = fields
    show_change_link = True

    @display(description="Amount")
    def amount_display(self, obj: Payment) -> str:
        return money(obj.amount, obj.currency)

    @display(description="Receipt")
    def receipt(self, obj: Payment) -> str:
        return receipt_link(obj) or "–"

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple[str, ...]:
        # The receipt is for those who take money: a tutor reading the booking has no link to it.
        takes_money = request.user.has_perm("bookings.change_booking")
        return (*self.fields, "receipt") if takes_money else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple[str, ...]:
        return self.get_fields(request, obj)


@admin.register(Booking)
class BookingAdmin(
    RowCheckboxMixin,
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
        "result_column",
        "created_at",
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
    row_links = ACTION_FORMS  # the "Actions" column (ActionAdminMixin), not unfold's row menu
    inlines = (BookingPaymentInline, BookingEventInline)

    class Media:
        # The copy buttons, and the change due of "Mark paid in cash" in the modal (files: the CSP
        # runs no inline script).
        js = ("bookings/payment_links.js", "bookings/cash_change.js")

    add_fieldsets = ((None, {"fields": ("session", "student", "payment_method")}),)
    fieldsets = (
        (None, {"fields": ("reference", "status", "cancel_reason", "student", "student_phone", "session")}),
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
        "student_phone",
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

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Booking], search_term: str
    ) -> tuple[QuerySet[Booking], bool]:
        """By reference, by the student (``student_search``: name, e-mail, a phone in any format),
        and by an old reference: a rescheduled booking's finds the booking it moved to."""
        term = search_term.strip()
        if not term:
            return queryset, False
        found = Q(reference__icontains=term) | student_search(term, prefix="student")
        if (live := live_booking_for(term)) is not None:
            found |= Q(pk=live.pk)
        return queryset.filter(found), False

    # --- Booking on the phone: the add form's pickers and a cash payment's receipt -----------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        own = [
            path("pick-session/", view(self.pick_session_view), name="bookings_booking_pick_session"),
            path("pick-student/", view(self.pick_student_view), name="bookings_booking_pick_student"),
            path(
                "<int:booking_id>/receipt/<int:payment_id>/",
                view(self.receipt_view),
                name="bookings_booking_receipt",
            ),
        ]
        # Ahead of the admin's own patterns: "<path:object_id>/" would take these for an id.
        return [*own, *super().get_urls()]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name in PICKERS:
            field_class, choices = PICKERS[db_field.name]
            kwargs.setdefault(
                "widget", PickerWidget(db_field, self.admin_site, db_field.name, using=kwargs.get("using"))
            )
            kwargs.setdefault("form_class", field_class)
            kwargs.setdefault("queryset", choices())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def refuse_unless_booking(self, request: HttpRequest) -> None:
        if not self.has_add_permission(request):
            raise PermissionDenied  # a tutor: they do not book students

    def pick_session_view(self, request: HttpRequest) -> JsonResponse:
        """Sessions the booking rules accept, with a seat free, for the chosen student (``?student=``)
        once there is one, found by ``?term=`` (a date as typed, product, room, tutor)."""
        self.refuse_unless_booking(request)
        student = parse_pk(User, request.GET.get("student") or None)
        sessions = sessions_to_book(request.GET.get("term", ""), student=student)
        return picker_response(request, sessions, session_option)

    def pick_student_view(self, request: HttpRequest) -> JsonResponse:
        """Students by name, e-mail or a phone in any format, each shown with their phone."""
        self.refuse_unless_booking(request)
        return picker_response(request, students_matching(request.GET.get("term", "")), student_option)

    def receipt_view(self, request: HttpRequest, booking_id: int, payment_id: int) -> TemplateResponse:
        """A cash payment's printable receipt; for those who take money (a tutor gets a 404)."""
        if not self.has_change_permission(request):
            raise Http404("No such receipt.")
        booking = object_or_404(self.get_queryset(request), booking_id)
        cash = booking.payments.filter(provider=PaymentProvider.CASH).select_related("created_by")
        payment = object_or_404(cash, payment_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Receipt for {booking.reference}",
            "booking": booking,
            "payment": payment,
            "amount": money(payment.amount, payment.currency),
            "taken_at": timezone.localtime(payment.performed_at or payment.created_at),
            "booking_url": self.object_url(booking),
        }
        return TemplateResponse(request, "admin/bookings/booking/receipt.html", context)

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
