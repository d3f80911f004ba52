"""Payments: the ledger of money taken at the desk and online, the providers' calls, and refunds.

Money is recorded through services only: cash at the desk through ``record_payment`` (the add
form takes cash only: an online payment is made by its provider's callbacks, never typed in), a
refund through ``refund`` (cash), a Click reversal (``bookings.payments.click_merchant``) or a
Payme refund request (``request_payme_refund``). Refunds are for managers: the
``bookings.refund_payment`` permission, which operators do not hold.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.validators import MaxValueValidator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminDecimalFieldWidget, UnfoldAdminTextInputWidget

from backoffice.admin_lists import ModelAdmin, SafeChangeListMixin
from backoffice.models import User
from bookings import services
from bookings.admin.actions import ActionAdminMixin, ActionForm, in_modal
from bookings.admin.base import (
    LargeTablePaginator,
    ReadOnlyChangeMixin,
    RowCheckboxMixin,
    ServiceForm,
    ServiceFormMixin,
    badge,
    money,
    student_header,
    student_search_fields,
    two_lines,
)
from bookings.admin.booking_actions import booking_row, outstanding, whole
from bookings.admin.bookings import DayRangeFilter
from bookings.admin.exports import PaymentExportResource, SpreadsheetExportMixin
from bookings.models import Booking, Payment, PaymentLog, PaymentProvider, PaymentStatus
from bookings.payments import click_merchant
from bookings.payments.core import from_ms
from bookings.selectors import refunds_due, stuck_payments

REFUND_PERMISSION = "bookings.refund_payment"
PAYME_PERFORMED = 2
# Every key is listed: unfold shows the raw key, not the text, of a state missing here.
STATE_COLOURS = {
    PaymentStatus.PAID: "success",
    PaymentStatus.PENDING: "warning",
    PaymentStatus.REFUNDED: "info",
    PaymentStatus.CANCELLED: "grey",
    PaymentStatus.FAILED: "danger",
    "stuck": "danger",
    "refund_requested": "warning",
}
CLICK_STAGES = {PaymentStatus.PENDING: "prepared", PaymentStatus.PAID: "completed"}
LOG_ROWS = 100  # the payment page shows its latest calls; the rest are in the request log's list


def ms_time(value: int | None) -> str:
    """A provider's time in milliseconds, as the centre's local time."""
    if not value:
        return "–"
    return f"{timezone.localtime(from_ms(value)):%Y-%m-%d %H:%M:%S}"


def payment_state(payment: Payment) -> tuple[str, str]:
    """The list's state: our status, with the provider's own state beside it."""
    if payment.is_stuck:
        key, text = "stuck", "Stuck"
    elif payment.refund_pending:
        key, text = "refund_requested", "Refund requested"
    else:
        key, text = payment.status, payment.get_status_display()
    if payment.provider == PaymentProvider.PAYME and payment.provider_state is not None:
        text += f" · Payme state {payment.provider_state}"
    elif payment.provider == PaymentProvider.CLICK and payment.status in CLICK_STAGES:
        text += f" · Click {CLICK_STAGES[payment.status]}"
    return key, text


# --- The add form: cash only ------------------------------------------------------------------


class RecordedDayFilter(DayRangeFilter):
    label = "recorded on"


class PaymentAddForm(ServiceForm):
    """Cash taken at the desk. Online payments come from their providers' callbacks only: a form
    that took "Click, transaction 7001" would let anyone at the desk complete an online attempt."""

    class Meta:
        model = Payment
        fields = ("booking", "amount")
        help_texts = {"amount": "Cash taken at the desk. Once the price is covered, a pending booking is confirmed."}

    def perform(self) -> Payment:
        return services.record_payment(
            self.cleaned_data["booking"],
            provider=PaymentProvider.CASH,
            amount=self.cleaned_data["amount"],
            actor=self.actor,
        )


# --- Refunds ----------------------------------------------------------------------------------


class RefundForm(ActionForm):
    """A refund of one payment, the way its provider returns money."""

    submit_variant = "danger"

    amount = forms.DecimalField(
        required=False,
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        widget=UnfoldAdminDecimalFieldWidget,
    )
    reason = forms.CharField(
        max_length=500,
        help_text="Why the money goes back; kept in the booking's history.",
        widget=UnfoldAdminTextInputWidget,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        payment = self.payment
        left = money(payment.refundable, payment.currency)
        if payment.provider == PaymentProvider.CASH:
            self.title = "Refund cash"
            self.description = (
                f"Records cash handed back at the desk: all that is left of this payment ({left}) or a part. "
                "Refunding all of it cancels the booking and releases its seat."
            )
            self.submit_label = "Record refund"
            field = self.fields["amount"]
            field.label = f"Amount ({payment.currency})"
            field.help_text = f"Leave empty to refund everything left: {left}."
            field.validators.append(MaxValueValidator(payment.refundable))
        else:
            del self.fields["amount"]
            if payment.provider == PaymentProvider.CLICK:
                self.title = "Refund through Click"
                self.description = (
                    f"Asks Click to reverse this payment ({left}, Click transaction {payment.provider_txn_id}). "
                    "Click reverses a payment whole; the refund is recorded only if Click confirms it. "
                    "The booking is then cancelled and its seat released."
                )
                self.submit_label = "Reverse with Click"
            else:
                self.title = "Request a Payme refund"
                self.description = (
                    f"Payme returns money only when the merchant cancels the transaction in the Payme Business "
                    f"cabinet. This marks the payment ({left}, Payme transaction {payment.provider_txn_id}) "
                    "\u201crefund requested\u201d; the next step is in the cabinet."
                )
                self.submit_label = "Mark refund requested"

    @property
    def payment(self) -> Payment:
        return self.target

    @classmethod
    def offered_for(cls, obj: Payment) -> bool:
        """Whether the payment page shows the refund button. The service still has the last word."""
        payment = obj
        if payment.provider == PaymentProvider.CASH:
            return payment.refundable > 0
        untouched = payment.status == PaymentStatus.PAID and not payment.refunded_amount and not payment.refund_pending
        if payment.provider == PaymentProvider.PAYME:
            return untouched and payment.provider_state == PAYME_PERFORMED
        return untouched

    def perform_on(self, obj: Payment, actor: User | None) -> Payment:
        payment, reason = obj, self.cleaned_data["reason"]
        if payment.provider == PaymentProvider.CLICK:
            return click_merchant.reverse_payment(payment, reason=reason, actor=actor)
        if payment.provider == PaymentProvider.PAYME:
            return services.request_payme_refund(payment, reason=reason, actor=actor)
        return services.refund(payment, amount=self.cleaned_data.get("amount"), reason=reason, actor=actor)

    def page_context(self) -> dict[str, Any]:
        # The booking the money was paid for, with the payment's amount.
        payment = self.payment
        return {"rows": [booking_row(payment.booking, money(payment.amount, payment.currency))], "show_notes": True}

    def success_message(self, result: Payment) -> str:
        reference = result.booking.reference
        if result.provider == PaymentProvider.PAYME:
            paid = timezone.localtime(result.performed_at) if result.performed_at else None
            return (
                f"Refund of Payme transaction {result.provider_txn_id} requested. Now, in the Payme Business "
                f"cabinet, find that transaction ({money(result.amount, result.currency)}"
                f"{f', paid {paid:%d %b %Y %H:%M}' if paid else ''}) and cancel it. Payme then tells Seatdesk "
                f"(CancelTransaction) and the refund completes here by itself: the payment becomes refunded and "
                f"booking {reference} is cancelled, its seat released. Until then it is listed under refunds due."
            )
        how = "reversed by Click" if result.provider == PaymentProvider.CLICK else "refunded in cash"
        returned = money(result.refunded_amount, result.currency)
        return f"{returned} of booking {reference}'s payment {how}; the student is told."


# --- List filters ------------------------------------------------------------------------------


class StuckFilter(admin.SimpleListFilter):
    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Pending past the provider's limit")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Payment]) -> QuerySet[Payment]:
        return queryset.filter(stuck_payments()) if self.value() == "yes" else queryset


class RefundFilter(admin.SimpleListFilter):
    title = "refund"
    parameter_name = "refund"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("due", "Due (requested, or a booking flagged for refund)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Payment]) -> QuerySet[Payment]:
        return queryset.filter(refunds_due()) if self.value() == "due" else queryset


# --- The admin ---------------------------------------------------------------------------------


@admin.register(Payment)
class PaymentAdmin(
    RowCheckboxMixin,
    ActionAdminMixin,
    SpreadsheetExportMixin,
    ServiceFormMixin,
    ReadOnlyChangeMixin,
    SafeChangeListMixin,
    ModelAdmin,
):
    add_form = PaymentAddForm
    action_template = "admin/bookings/booking/action.html"  # the booking the money was paid for
    export_resource = PaymentExportResource
    change_form_template = "admin/bookings/payment/change_form.html"
    list_display = (
        "created_at",
        "booking",
        "student",
        "provider",
        "amount_display",
        "refunded_display",
        "state",
        "provider_time_display",
        "performed_at",
        "cancelled_at",
        "provider_txn_id",
    )
    list_select_related = ("booking__student",)
    list_filter = ("provider", "status", StuckFilter, RefundFilter, ("created_at", RecordedDayFilter))
    list_filter_submit = True  # the date range is typed in, then applied with the other filters
    search_fields = ("booking__reference", "provider_txn_id", *student_search_fields("booking__student"))
    # No date_hierarchy: its DISTINCT date_trunc scans every payment on each load (279 ms at 791,750
    # payments, bench/admin_pages.py); the "recorded on" range filter uses the created_at index.
    show_full_result_count = False  # the unfiltered COUNT(*) of a large table on every page
    paginator = LargeTablePaginator
    autocomplete_fields = ("booking",)
    actions_detail = ("refund_payment",)

    add_fieldsets = ((None, {"fields": ("booking", "amount")}),)
    fieldsets = (
        (None, {"fields": ("booking", "provider", "amount_display", "refunded_display", "state")}),
        (
            "Provider",
            {
                "fields": (
                    "provider_txn_id",
                    "click_paydoc_id",
                    "provider_state",
                    "provider_reason",
                    "provider_time_display",
                    "create_time_display",
                    "perform_time_display",
                    "cancel_time_display",
                    "holds_until",
                    "performed_at",
                    "cancelled_at",
                )
            },
        ),
        ("Refund", {"fields": ("refund_requested_at", "refund_requested_by")}),
        ("Record", {"fields": ("created_by", "created_at")}),
    )
    readonly_fields = (
        "booking",
        "provider",
        "amount_display",
        "refunded_display",
        "state",
        "provider_txn_id",
        "click_paydoc_id",
        "provider_state",
        "provider_reason",
        "provider_time_display",
        "create_time_display",
        "perform_time_display",
        "cancel_time_display",
        "holds_until",
        "performed_at",
        "cancelled_at",
        "refund_requested_at",
        "refund_requested_by",
        "created_by",
        "created_at",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Payment | None = None) -> tuple[str, ...]:
        return self.readonly_fields if obj is not None else ()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        # Opened for a booking (?booking=<id>): offer what it still owes.
        booking_id = str(initial.get("booking") or "")
        booking = Booking.objects.filter(pk=booking_id).first() if booking_id.isdigit() else None
        if booking is not None and (due := outstanding(booking)):
            initial.setdefault("amount", whole(due))
        return initial

    def has_delete_permission(self, request: HttpRequest, obj: Payment | None = None) -> bool:
        # Money taken is history: a wrong payment is refunded, and only a superuser removes one.
        return request.user.is_superuser

    # --- The payment page: its calls, and the refund ---------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        logs = list(PaymentLog.objects.filter(payment_id=_pk(object_id)).order_by("-created_at", "-id")[:LOG_ROWS])
        title = f"Calls (the latest {LOG_ROWS})" if len(logs) == LOG_ROWS else f"Calls ({len(logs)})"
        extra_context = {**(extra_context or {}), "log_table": log_table(logs), "log_title": title}
        return super().change_view(request, object_id, form_url, extra_context)

    @in_modal
    # A permission method, not the dotted name: unfold checks a dotted name against the database at
    # start-up, before `migrate` has created it (a fresh install's `manage.py migrate` would stop).
    @action(description="Refund", icon="undo", permissions=["refund"], url_path="refund")
    def refund_payment(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, RefundForm)

    def has_refund_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm(REFUND_PERMISSION)

    def get_actions_detail(self, request: HttpRequest, object_id: int | str) -> list:
        actions = super().get_actions_detail(request, object_id)
        payment = self.get_object(request, unquote(str(object_id))) if actions else None
        if payment is None or not RefundForm.offered_for(payment):
            return []
        return actions

    # --- Columns ---------------------------------------------------------------------------------

    @display(description="Student", ordering="booking__student__last_name")
    def student(self, obj: Payment) -> str:
        return two_lines(*student_header(obj.booking.student))

    @display(description="Amount", ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return money(obj.amount, obj.currency)

    @display(description="Refunded", ordering="refunded_amount")
    def refunded_display(self, obj: Payment) -> str:
        return money(obj.refunded_amount, obj.currency) if obj.refunded_amount else "–"

    @display(description="State", ordering="status")
    def state(self, obj: Payment) -> str:
        key, text = payment_state(obj)
        return badge(text, STATE_COLOURS.get(key))

    @display(description="Provider's time", ordering="provider_time")
    def provider_time_display(self, obj: Payment) -> str:
        """Payme's own time of the transaction; for Click, when it prepared the payment."""
        if obj.provider_time:
            return ms_time(obj.provider_time)
        if obj.provider == PaymentProvider.CLICK:
            return f"{timezone.localtime(obj.created_at):%Y-%m-%d %H:%M:%S}"
        return "–"

    @display(description="Create time (answered)")
    def create_time_display(self, obj: Payment) -> str:
        return ms_time(obj.create_time)

    @display(description="Perform time (answered)")
    def perform_time_display(self, obj: Payment) -> str:
        return ms_time(obj.perform_time)

    @display(description="Cancel time (answered)")
    def cancel_time_display(self, obj: Payment) -> str:
        return ms_time(obj.cancel_time)


def _pk(object_id: str) -> int | None:
    """The payment id in the URL, or None when it cannot be one (not digits, or beyond a 64-bit
    integer: SQLite would refuse to compare with it, where the ORM's own lookups answer "no row")."""
    value = unquote(object_id)
    if not value.isdigit() or int(value) > 2**63 - 1:
        return None
    return int(value)


def log_table(logs: list[PaymentLog]) -> dict[str, Any]:
    """The payment's calls for unfold's table component: what came in, what we answered."""
    return {
        "headers": ["Time", "Call", "From", "Error", "Request", "Answer"],
        "rows": [
            [
                f"{timezone.localtime(log.created_at):%Y-%m-%d %H:%M:%S}",
                f"{log.get_provider_display()} {log.action}",
                log.remote_addr or "–",
                "–" if log.error is None else str(log.error),
                json_block(log.request),
                json_block(log.response),
            ]
            for log in logs
        ],
    }


def json_block(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    return format_html('<pre class="max-w-md overflow-x-auto text-xs whitespace-pre-wrap break-all">{}</pre>', text)


class AnsweredFilter(admin.SimpleListFilter):
    title = "answer"
    parameter_name = "answer"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("ok", "Success"), ("error", "An error code")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PaymentLog]) -> QuerySet[PaymentLog]:
        if self.value() == "ok":
            return queryset.filter(error__isnull=True)
        if self.value() == "error":
            return queryset.filter(error__isnull=False)
        return queryset


@admin.register(PaymentLog)
class PaymentLogAdmin(SafeChangeListMixin, ModelAdmin):
    """Every call of a provider to our callbacks and of ours to Click, refused ones included. Read-only."""

    list_display = ("created_at", "provider", "action", "booking_reference", "payment_link", "remote_addr", "error")
    # Fixed choices only: a filter listing the distinct values of a column, or a date drill-down,
    # would read the whole log (a row per call) on every page load.
    list_filter = ("provider", AnsweredFilter)
    search_fields = ("booking_reference",)
    show_full_result_count = False
    paginator = LargeTablePaginator
    fields = (
        "created_at",
        "provider",
        "action",
        "payment",
        "booking_reference",
        "remote_addr",
        "error",
        "request",
        "response",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PaymentLog | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PaymentLog | None = None) -> bool:
        return False

    @display(description="Payment", ordering="payment")
    def payment_link(self, obj: PaymentLog) -> str:
        if obj.payment_id is None:
            return "–"
        url = reverse("admin:bookings_payment_change", args=[obj.payment_id])
        return format_html('<a class="text-primary-600" href="{}">#{}</a>', url, obj.payment_id)
