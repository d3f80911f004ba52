"""Bookings and their history. Every change goes through bookings.services.

The booking page and each row of the list offer the booking's actions (confirm, mark paid, cancel,
reschedule, no-show, complete). Each opens a small form page -- in unfold's modal when scripts run --
that POSTs back; GET only shows it. Bulk actions ask once and call the service per booking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.dataclasses import ActionDialog
from unfold.decorators import action, display

from backoffice.admin_lists import SafeChangeListMixin
from bookings import services
from bookings.admin.base import (
    BOOKING_STATUS_COLOURS,
    LargeTablePaginator,
    ReadOnlyChangeMixin,
    ReadOnlyInline,
    ServiceAddMixin,
    ServiceForm,
    TutorScopedMixin,
    money,
    student_search_fields,
    tutor_filter,
)
from bookings.admin.booking_actions import (
    BookingActionForm,
    CancelChoiceForm,
    CancelForm,
    CompleteForm,
    ConfirmForm,
    MarkPaidForm,
    NoShowForm,
    RescheduleForm,
    SendPaymentLinkForm,
    links_configured,
    outstanding,
    payable,
)
from bookings.admin.exports import BookingExportResource
from bookings.admin.imports import SpreadsheetImportExportMixin
from bookings.errors import BookingError, BookingNotAllowed
from bookings.models import Booking, BookingEvent, BookingSource, BookingStatus, Payment, PaymentProvider
from bookings.payments.links import payment_links
from bookings.selectors import PaymentState, amount_owed, payment_state, with_paid_amount

ACTION_TEMPLATE = "admin/bookings/booking/action.html"

# The booking actions by method name, in the order the page and the row menu show them.
ACTION_FORMS: dict[str, type[BookingActionForm]] = {
    "confirm_booking": ConfirmForm,
    "mark_paid": MarkPaidForm,
    "send_payment_link": SendPaymentLinkForm,
    "cancel_booking": CancelForm,
    "reschedule_booking": RescheduleForm,
    "mark_no_show": NoShowForm,
    "complete_booking": CompleteForm,
}

# The list's colour of each payment state (bookings.selectors.payment_state). Every state is
# listed: unfold shows the raw key, not the text, of a state missing here.
PAYMENT_STATE_COLOURS = {
    PaymentState.PAID: "success",
    PaymentState.PART: "warning",
    PaymentState.REFUND: "danger",
    PaymentState.FREE: "info",
    PaymentState.UNPAID: "grey",
}


def student_header(student: Any) -> list[str]:
    """Name over phone (or e-mail): what staff read out when a student calls."""
    return [str(student), student.phone or student.email]


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


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class SessionDayFilter(DayRangeFilter):
    label = "session date"


class BookedDayFilter(DayRangeFilter):
    label = "booked on"


def in_modal(view: Callable) -> Callable:
    """Let unfold open an action's page in its modal: htmx loads the page and keeps its #dialog.

    Set after ``@action`` on purpose: given to ``@action``, unfold would render its own bare form
    instead of this page, which also works without scripts and shows the service's errors.
    """
    view.dialog = ActionDialog(title=view.short_description)
    return view


class BookingAddForm(ServiceForm):
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
class BookingAdmin(SpreadsheetImportExportMixin, ServiceAddMixin, ReadOnlyChangeMixin, TutorScopedMixin, ModelAdmin):
    add_form = BookingAddForm
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

    def run_action(self, request: HttpRequest, object_id: str, form_class: type[BookingActionForm]) -> HttpResponse:
        """GET shows the action's form; a valid POST calls its service and returns to the booking."""
        booking = self.get_object(request, unquote(object_id))
        if booking is None:  # not there, or another tutor's
            raise Http404("No such booking.")
        posted = request.method == "POST"
        form = form_class(request.POST if posted else None, booking=booking)
        if posted and form.is_valid():
            try:
                result = form.perform(actor=request.user)
            except BookingError as exc:
                form.add_error(None, exc.message)
            else:
                level = getattr(form, "message_level", messages.SUCCESS)
                self.message_user(request, form.success_message(result), level)
                return redirect(self.booking_url(result))
        return self.action_page(
            request,
            form,
            [booking],
            title=form.title,
            description=form.description,
            submit_label=form.submit_label,
            back_url=self.booking_url(booking),
        )

    def get_actions_detail(self, request: HttpRequest, object_id: int | str) -> list:
        actions = super().get_actions_detail(request, object_id)
        booking = self.get_object(request, unquote(str(object_id))) if actions else None
        if booking is None:
            return []
        # The page offers what the booking's state allows; the list's row menu offers all, and
        # the service explains a refusal.
        prefix = f"{self.opts.app_label}_{self.opts.model_name}_"
        return [a for a in actions if ACTION_FORMS[a.action_name.removeprefix(prefix)].offered_for(booking)]

    # --- Many bookings: list actions ---------------------------------------------------------------

    @admin.action(description="Confirm selected bookings", permissions=["change"])
    def confirm_selected(self, request: HttpRequest, queryset: QuerySet[Booking]) -> None:
        self.apply(request, queryset, lambda booking: services.confirm(booking, actor=request.user), "confirmed")

    @admin.action(description="Cancel selected bookings…", permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Booking]) -> HttpResponse | None:
        form = CancelChoiceForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self.bulk_page(
                request,
                queryset,
                form,
                action_name="cancel_selected",
                title="Cancel bookings",
                description="Each booking is cancelled on its own; one that cannot be is reported and skipped.",
                submit_label="Cancel bookings",
            )
        choice = form.cleaned_data
        self.apply(
            request,
            queryset,
            lambda booking: services.cancel(
                booking,
                reason=choice["reason"],
                override_policy=choice["override_policy"],
                note=choice["note"],
                actor=request.user,
            ),
            "cancelled",
        )
        return None

    @admin.action(description="Mark selected bookings paid in cash…", permissions=["change"])
    def mark_paid_selected(self, request: HttpRequest, queryset: QuerySet[Booking]) -> HttpResponse | None:
        if "apply" not in request.POST:
            return self.bulk_page(
                request,
                queryset,
                forms.Form(),
                action_name="mark_paid_selected",
                title="Mark bookings paid in cash",
                description="Records, for each booking, the cash it still owes.",
                submit_label="Record payments",
                note=lambda b: f"to pay {money(amount_owed(b, paid=b.paid_amount), b.currency)}",
            )
        self.apply(request, queryset, lambda booking: self.pay_outstanding(booking, request.user), "paid in cash")
        return None

    @staticmethod
    def pay_outstanding(booking: Booking, actor: Any) -> Payment:
        if not payable(booking):
            raise BookingNotAllowed(f"Booking {booking.reference} is {booking.get_status_display().lower()}.")
        due = outstanding(booking)
        if not due:
            raise BookingNotAllowed(f"Booking {booking.reference} has nothing left to pay.")
        return services.record_payment(booking, provider=PaymentProvider.CASH, amount=due, actor=actor)

    def apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[Booking],
        change: Callable[[Booking], Model],
        done_verb: str,
    ) -> None:
        """Run one service per booking: each is its own transaction, so one refusal stops no other."""
        done: list[str] = []
        for booking in queryset.order_by("pk"):
            try:
                change(booking)
            except BookingError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                done.append(booking.reference)
        if done:
            self.message_user(request, f"{len(done)} booking(s) {done_verb}: {', '.join(done)}.", messages.SUCCESS)

    # --- The action page -------------------------------------------------------------------------

    def bulk_page(
        self,
        request: HttpRequest,
        queryset: QuerySet[Booking],
        form: forms.Form,
        *,
        action_name: str,
        note: Callable[[Booking], str] | None = None,
        **texts: str,
    ) -> TemplateResponse:
        """The page a list action shows first: the bookings it will change, and what it needs to know."""
        bookings = list(queryset.order_by("pk"))
        hidden = [("action", action_name), ("apply", "1")] + [(ACTION_CHECKBOX_NAME, b.pk) for b in bookings]
        return self.action_page(
            request, form, bookings, note=note, hidden=hidden, back_url=request.get_full_path(), **texts
        )

    def action_page(
        self,
        request: HttpRequest,
        form: forms.Form,
        bookings: Iterable[Booking],
        *,
        title: str,
        description: str,
        submit_label: str,
        back_url: str,
        note: Callable[[Booking], str] | None = None,
        hidden: Iterable[tuple[str, Any]] = (),
    ) -> TemplateResponse:
        rows = [
            {
                "booking": booking,
                "url": self.booking_url(booking),
                "student": student_header(booking.student),
                "status_colour": BOOKING_STATUS_COLOURS.get(booking.status, ""),
                "note": note(booking) if note else "",
            }
            for booking in bookings
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "description": description,
            "submit_label": submit_label,
            "submit_variant": getattr(form, "submit_variant", "primary"),
            "form": form,
            "rows": rows,
            "show_notes": note is not None,
            "hidden": hidden,
            "action_url": request.get_full_path(),
            "back_url": back_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    def booking_url(self, booking: Booking) -> str:
        return reverse(f"{self.admin_site.name}:bookings_booking_change", args=[booking.pk])

    # --- Columns and read-only fields ------------------------------------------------------------

    @display(description="Student", header=True, ordering="student__last_name")
    def student_column(self, obj: Booking) -> list[str]:
        return student_header(obj.student)

    @display(description="Status", ordering="status", label=BOOKING_STATUS_COLOURS)
    def status_badge(self, obj: Booking) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    @display(description="Actions")
    def row_actions(self, obj: Booking) -> str:
        """Icon links to the actions this booking's state allows; each opens its form (GET changes nothing)."""
        links = []
        url_parts = self.action_url_parts
        for name, form in ACTION_FORMS.items():
            # Mark paid: the list's annotated paid sum rather than a query per row (the form itself
            # prefills the exact amount owed from the payments).
            owes = amount_owed(obj, paid=obj.paid_amount) > 0
            if form is MarkPaidForm:
                offered = payable(obj) and owes
            elif form is SendPaymentLinkForm:
                offered = obj.status == BookingStatus.PENDING and owes and links_configured()
            else:
                offered = form.offered_for(obj)
            if offered:
                head, tail = url_parts[name]
                links.append((f"{head}{obj.pk}{tail}", form.title, getattr(self, name).icon))
        return format_html_join(
            "",
            '<a href="{}" title="{}" class="material-symbols-outlined text-base-400 hover:text-primary-600 '
            'md-18 px-0.5">{}</a>',
            links,
        )

    @cached_property
    def action_url_parts(self) -> dict[str, tuple[str, str]]:
        """Each action's URL around the booking id: one reverse() per action, not one per link per row."""
        changelist = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        parts = {}
        for name in ACTION_FORMS:
            url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[0])
            assert url.startswith(f"{changelist}0/")
            parts[name] = (changelist, url.removeprefix(f"{changelist}0"))
        return parts

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        list_display = tuple(super().get_list_display(request))
        if not self.has_change_permission(request):
            list_display = tuple(name for name in list_display if name != "row_actions")
        return list_display

    @display(description="Payment", ordering="payment_method", label=PAYMENT_STATE_COLOURS)
    def payment_column(self, obj: Booking) -> tuple[str, str]:
        state = payment_state(obj, obj.paid_amount)
        return state.value, f"{obj.get_payment_method_display()} · {state.label}"

    @display(description="Time left", ordering="expires_at")
    def time_left(self, obj: Booking) -> str:
        return obj.time_left_display

    @display(description="Price")
    def price_display(self, obj: Booking) -> str:
        return money(obj.price, obj.currency)

    @display(description="Paid")
    def paid_display(self, obj: Booking) -> str:
        paid = obj.paid_amount  # with_paid_amount() in get_queryset
        # Only a booking holding its seat is still to be paid (a cancelled one's money, if any, is
        # for a refund; a rescheduled one's moved to the new booking).
        due = amount_owed(obj, paid=paid) if obj.holds_seat else 0
        return f"{money(paid, obj.currency)} ({money(due, obj.currency)} to pay)" if due else money(paid, obj.currency)

    @display(description="Payment links")
    def payment_links(self, obj: Booking) -> str:
        """The Click and Payme checkout links for what is owed, each with a copy button (payment_links.js)."""
        links = payment_links(obj)
        if not links:
            return "Only a pending booking that still owes money has payment links."
        return format_html(
            '<div class="flex flex-col gap-2 max-w-3xl" data-payment-links>{}</div>',
            format_html_join(
                "",
                '<div class="flex items-center gap-2" data-payment-link="{0}">'
                '<span class="font-medium w-12 shrink-0">{1}</span>'
                '<input type="text" readonly value="{2}" id="payment-link-{0}" aria-label="{1} payment link" '
                'class="border border-base-200 bg-base-50 font-mono grow min-w-0 px-2 py-1 rounded-default text-xs '
                'text-font-default-light dark:bg-base-900 dark:border-base-700 dark:text-font-default-dark">'
                '<button type="button" data-copy-link="payment-link-{0}" '
                'class="border border-base-200 cursor-pointer font-medium inline-flex items-center gap-1 px-2 py-1 '
                "rounded-default shadow-xs shrink-0 text-important hover:bg-base-100/80 dark:border-base-700 "
                'dark:hover:bg-base-800/80"><span class="material-symbols-outlined md-18">content_copy</span>'
                "<span data-copy-label>Copy</span></button></div>",
                ((provider, PaymentProvider(provider).label, url) for provider, url in links.items()),
            ),
        )

    @display(description="Rescheduled to")
    def moved_to(self, obj: Booking) -> Booking | None:
        # A reverse one-to-one: missing until the booking is rescheduled.
        return getattr(obj, "rescheduled_to", None)


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
