"""Sessions: dated sittings of a product. Seat counts belong to the booking services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display

from bookings import services
from bookings.admin.base import (
    SESSION_STATUS_COLOURS,
    ReadOnlyInline,
    TutorScopedMixin,
    tutor_filter,
)
from bookings.errors import BookingError
from bookings.models import Booking, Session, SessionStatus

STATUS_SERVICES = {
    SessionStatus.OPEN: services.reopen_session,
    SessionStatus.CLOSED: services.close_session,
    SessionStatus.CANCELLED: services.cancel_session,
}

# Fields that change what students booked; frozen while a booking holds a seat.
BOOKED_FIELDS = ("product", "tutor", "starts_at", "ends_at")


class SessionForm(forms.ModelForm):
    class Meta:
        model = Session
        fields = ("product", "tutor", "room", "starts_at", "ends_at", "capacity", "status")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "ends_at" in self.fields:
            self.fields["ends_at"].required = False
            self.fields["ends_at"].help_text = "Leave empty: the start plus the product's duration."
        if "capacity" in self.fields:
            self.fields["capacity"].required = False
            self.fields["capacity"].help_text = "Leave empty: the product's default capacity."

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        product = data.get("product") or (self.instance.product if self.instance.product_id else None)
        starts_at = data.get("starts_at", self.instance.starts_at)
        if "ends_at" in self.fields and not data.get("ends_at") and product and starts_at:
            data["ends_at"] = starts_at + timedelta(minutes=product.duration_minutes)
        if "capacity" in self.fields and data.get("capacity") is None and product:
            data["capacity"] = product.default_capacity
        ends_at = data.get("ends_at")
        if "ends_at" in self.fields and ends_at and starts_at and ends_at <= starts_at:
            self.add_error("ends_at", "The session must end after it starts.")

        # seats_taken is only ever changed by the booking services; these checks turn what the
        # database constraints would refuse with an error page into messages on the form.
        taken = self.instance.seats_taken if self.instance.pk else 0
        capacity = data.get("capacity")
        if capacity is not None and capacity < taken:
            self.add_error("capacity", f"{taken} seats are booked: the capacity cannot be lower than that.")
        if data.get("status") == SessionStatus.CANCELLED and taken:
            self.add_error(
                "status",
                f"{taken} booking(s) still hold a seat: cancel or reschedule them before cancelling the session.",
            )
        tutor = data.get("tutor")
        if tutor and starts_at and data.get("status") != SessionStatus.CANCELLED:
            clash = Session.objects.filter(tutor=tutor, starts_at=starts_at).exclude(status=SessionStatus.CANCELLED)
            if clash.exclude(pk=self.instance.pk).exists():
                self.add_error("starts_at", f"{tutor} already has a session starting at this time.")
        return data


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
class SessionAdmin(TutorScopedMixin, ModelAdmin):
    form = SessionForm
    tutor_user_lookup = "tutor__user"
    list_display = ("starts", "product", "tutor", "room", "seats", "seats_left", "status_badge", "source")
    list_select_related = ("product", "tutor__user")
    list_filter = ("status", "product", tutor_filter("tutor"), "source")
    search_fields = ("product__name", "product__code", "room", "tutor__user__first_name", "tutor__user__last_name")
    date_hierarchy = "starts_at"
    inlines = (SessionBookingInline,)
    fieldsets = (
        (None, {"fields": ("product", "tutor", "room", "status")}),
        ("Time", {"fields": ("starts_at", "ends_at")}),
        ("Seats", {"fields": ("capacity", "seats_taken", "seats_left")}),
        ("Record", {"fields": ("source", "created_by", "created_at")}),
    )
    readonly_fields = ("seats_taken", "seats_left", "source", "created_by", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        # A session's label names its product and tutor: the booking form's autocomplete lists
        # sessions through this queryset, and would query both per row without this.
        return super().get_queryset(request).select_related("product", "tutor__user")

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

    def save_model(self, request: HttpRequest, obj: Session, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.created_by = request.user
            obj.save()
            return
        # Plain fields are saved as they are; seats_taken never (a booking made between this
        # request's read and its UPDATE would be lost), and capacity and status go through the
        # services, whose conditional UPDATEs hold against bookings landing at the same moment.
        plain = [
            f.name
            for f in Session._meta.concrete_fields
            if f.editable and not f.primary_key and f.name not in ("capacity", "status")
        ]
        obj.save(update_fields=plain)
        try:
            if "capacity" in form.changed_data:
                services.change_capacity(obj, capacity=obj.capacity, actor=request.user)
            if "status" in form.changed_data:
                STATUS_SERVICES[obj.status](obj, actor=request.user)
        except BookingError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    @display(description="Starts", ordering="starts_at")
    def starts(self, obj: Session) -> str:
        return f"{timezone.localtime(obj.starts_at):%a %d %b %Y %H:%M}"

    @display(description="Seats")
    def seats(self, obj: Session) -> str:
        return f"{obj.seats_taken}/{obj.capacity}"

    @display(description="Seats left", ordering=F("capacity") - F("seats_taken"))
    def seats_left(self, obj: Session) -> int | None:
        return obj.seats_left if obj.capacity is not None else None  # None on the add page

    @display(description="Status", ordering="status", label=SESSION_STATUS_COLOURS)
    def status_badge(self, obj: Session) -> tuple[str, str]:
        return obj.status, obj.get_status_display()
