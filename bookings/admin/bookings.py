"""Bookings and their history. Every change goes through bookings.services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display

from bookings import services
from bookings.admin.base import (
    BOOKING_STATUS_COLOURS,
    ReadOnlyChangeMixin,
    ReadOnlyInline,
    ServiceAddMixin,
    ServiceForm,
    TutorScopedMixin,
    money,
    student_search_fields,
    tutor_filter,
)
from bookings.errors import BookingError
from bookings.models import Booking, BookingEvent, BookingSource, CancelReason, Payment


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
    fields = ("created_at", "action", "actor_label", "data")
    readonly_fields = fields
    verbose_name_plural = "history"

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
class BookingAdmin(ServiceAddMixin, ReadOnlyChangeMixin, TutorScopedMixin, ModelAdmin):
    add_form = BookingAddForm
    tutor_user_lookup = "session__tutor__user"
    list_display = (
        "reference",
        "student",
        "session",
        "status_badge",
        "payment_method",
        "time_left",
        "has_result",
        "created_at",
    )
    list_select_related = ("student", "session__product", "session__tutor__user")
    list_filter = (
        "status",
        "payment_method",
        "source",
        "has_result",
        "needs_refund",
        "session__product",
        tutor_filter("session__tutor"),
    )
    search_fields = ("reference", *student_search_fields("student"))
    date_hierarchy = "created_at"
    show_full_result_count = False  # the unfiltered COUNT(*) of a large table on every page
    autocomplete_fields = ("session", "student")
    actions = ("confirm_selected", "cancel_selected")
    inlines = (BookingPaymentInline, BookingEventInline)

    add_fieldsets = ((None, {"fields": ("session", "student", "payment_method")}),)
    fieldsets = (
        (None, {"fields": ("reference", "status", "cancel_reason", "student", "session")}),
        (
            "Payment",
            {"fields": ("payment_method", "price_display", "expires_at", "time_left", "needs_refund")},
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

    # --- Actions -----------------------------------------------------------------------------------

    @admin.action(description="Confirm selected bookings", permissions=["change"])
    def confirm_selected(self, request: HttpRequest, queryset: QuerySet[Booking]) -> None:
        self._apply(request, queryset, lambda booking: services.confirm(booking, actor=request.user), "confirmed")

    @admin.action(description="Cancel selected bookings (by staff)", permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Booking]) -> None:
        self._apply(
            request,
            queryset,
            lambda booking: services.cancel(booking, reason=CancelReason.STAFF, actor=request.user),
            "cancelled",
        )

    def _apply(
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

    # --- Columns and read-only fields ------------------------------------------------------------

    @display(description="Status", ordering="status", label=BOOKING_STATUS_COLOURS)
    def status_badge(self, obj: Booking) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    @display(description="Time left", ordering="expires_at")
    def time_left(self, obj: Booking) -> str:
        return obj.time_left_display

    @display(description="Price")
    def price_display(self, obj: Booking) -> str:
        return money(obj.price, obj.currency)

    @display(description="Rescheduled to")
    def moved_to(self, obj: Booking) -> Booking | None:
        # A reverse one-to-one: missing until the booking is rescheduled.
        return getattr(obj, "rescheduled_to", None)


@admin.register(BookingEvent)
class BookingEventAdmin(TutorScopedMixin, ModelAdmin):
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
