"""Payments. Money is recorded through services.record_payment, which also confirms the booking."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from unfold.admin import ModelAdmin
from unfold.decorators import display

from bookings import services
from bookings.admin.base import (
    PAYMENT_STATUS_COLOURS,
    ReadOnlyChangeMixin,
    ServiceAddMixin,
    ServiceForm,
    money,
    student_search_fields,
)
from bookings.admin.booking_actions import outstanding, whole
from bookings.admin.bookings import student_header
from bookings.admin.exports import PaymentExportResource, SpreadsheetExportMixin
from bookings.models import Booking, Payment


class PaymentAddForm(ServiceForm):
    class Meta:
        model = Payment
        fields = ("booking", "provider", "amount", "provider_txn_id")
        help_texts = {
            "amount": "Once the booking's price is covered, a pending booking is confirmed.",
            "provider_txn_id": "The provider's transaction id, if any (recording it twice is harmless).",
        }

    def perform(self) -> Payment:
        return services.record_payment(
            self.cleaned_data["booking"],
            provider=self.cleaned_data["provider"],
            amount=self.cleaned_data["amount"],
            actor=self.actor,
            provider_txn_id=self.cleaned_data.get("provider_txn_id") or None,
        )


@admin.register(Payment)
class PaymentAdmin(SpreadsheetExportMixin, ServiceAddMixin, ReadOnlyChangeMixin, ModelAdmin):
    add_form = PaymentAddForm
    export_resource = PaymentExportResource
    list_display = ("created_at", "booking", "student", "provider", "amount_display", "status_badge", "provider_txn_id")
    list_select_related = ("booking__student",)
    list_filter = ("status", "provider")
    search_fields = ("booking__reference", "provider_txn_id", *student_search_fields("booking__student"))
    date_hierarchy = "created_at"
    show_full_result_count = False
    autocomplete_fields = ("booking",)

    add_fieldsets = ((None, {"fields": ("booking", "provider", "amount", "provider_txn_id")}),)
    fieldsets = (
        (None, {"fields": ("booking", "provider", "amount_display", "status")}),
        (
            "Provider",
            {"fields": ("provider_txn_id", "provider_state", "provider_created_at", "performed_at", "cancelled_at")},
        ),
        ("Record", {"fields": ("created_by", "created_at", "raw_log")}),
    )
    readonly_fields = (
        "booking",
        "provider",
        "amount_display",
        "status",
        "provider_txn_id",
        "provider_state",
        "provider_created_at",
        "performed_at",
        "cancelled_at",
        "created_by",
        "created_at",
        "raw_log",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Payment | None = None) -> tuple[str, ...]:
        return self.readonly_fields if obj is not None else ()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        # Opened for a booking (?booking=<id>): offer what it still owes, by the way it is to be paid.
        booking_id = str(initial.get("booking") or "")
        booking = Booking.objects.filter(pk=booking_id).first() if booking_id.isdigit() else None
        if booking is not None:
            initial.setdefault("provider", booking.payment_method)
            if due := outstanding(booking):
                initial.setdefault("amount", whole(due))
        return initial

    def has_delete_permission(self, request: HttpRequest, obj: Payment | None = None) -> bool:
        # Money taken is history: a wrong payment is refunded, and only a superuser removes one.
        return request.user.is_superuser

    @display(description="Student", header=True, ordering="booking__student__last_name")
    def student(self, obj: Payment) -> list[str]:
        return student_header(obj.booking.student)

    @display(description="Amount", ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return money(obj.amount, obj.currency)

    @display(description="Status", ordering="status", label=PAYMENT_STATUS_COLOURS)
    def status_badge(self, obj: Payment) -> tuple[str, str]:
        return obj.status, obj.get_status_display()
