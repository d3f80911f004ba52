"""Bookings as their student sees them (DESIGN.md, "API": the field names are binding)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.catalog import SessionRefSerializer, tutor_name
from api.serializers.fields import StrictCharField, StrictPrimaryKeyRelatedField
from bookings.models import Booking, BookingEvent, PaymentMethod, Session
from bookings.payments.links import payment_links
from bookings.selectors import StudentPaymentStatus, student_payment_status


class BookingSerializer(serializers.ModelSerializer):
    """A booking. ``payment_status`` comes from ``bookings.selectors`` (the list's annotation, or
    ``student_payment_status`` for an instance without it)."""

    payment_status = serializers.SerializerMethodField()
    hours_left = serializers.SerializerMethodField(help_text="Whole hours until a pending booking expires; else 0.")
    minutes_left = serializers.SerializerMethodField(help_text="And the minutes past those hours (0–59).")
    is_expired = serializers.BooleanField(read_only=True)
    session = SessionRefSerializer(read_only=True)

    class Meta:
        model = Booking
        fields = [
            "reference",
            "status",
            "payment_status",
            "payment_method",
            "price",
            "currency",
            "expires_at",
            "hours_left",
            "minutes_left",
            "is_expired",
            "has_result",
            "created_at",
            "session",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=StudentPaymentStatus.choices))
    def get_payment_status(self, booking: Booking) -> str:
        annotated = getattr(booking, "payment_status", None)
        if annotated is not None:
            return annotated
        return student_payment_status(booking, paid=getattr(booking, "paid_amount", None)).value

    def get_hours_left(self, booking: Booking) -> int:
        return int(booking.time_left.total_seconds() // 3600)

    def get_minutes_left(self, booking: Booking) -> int:
        return int(booking.time_left.total_seconds() % 3600 // 60)


@cache
def _booking_fields() -> dict[str, serializers.Field]:
    """BookingSerializer's bound fields, built once per process: BookingRows formats with them
    (building a serializer's fields walks its declarations and the model's, ~1 ms a list)."""
    return BookingSerializer().fields


class BookingRows:
    """What ``BookingSerializer(many=True)`` makes of loaded bookings (session, product and tutor
    selected with them), built directly: the same keys in the same order, the price formatted by
    the serializer's own field, dates as its DateTimeField formats them, ``payment_status``,
    ``is_expired`` and ``time_left`` from the selector's annotation and the model -- without DRF's
    per-field walk through two nested serializers, which was most of the list's time after its
    queries (bench/api.py, cProfile).

    The student's list (``GET bookings/``) answers through this; tests/api/test_booking_rows.py
    pins that it equals the serializer's output, byte for byte, for every kind of booking.
    """

    # The columns the rows read (``Booking.is_expired`` and ``time_left`` included), for ``only()``:
    # the booking, session, tutor and user rows are wide, and every datetime column costs a parse.
    READS = (
        "reference",
        "status",
        "cancel_reason",
        "payment_method",
        "price",
        "currency",
        "expires_at",
        "has_result",
        "created_at",
        "session__starts_at",
        "session__ends_at",
        "session__room",
        "session__product__code",
        "session__product__name",
        "session__tutor__user__first_name",
        "session__tutor__user__last_name",
    )

    def __init__(self) -> None:
        fields = _booking_fields()
        self.payment_status = fields["payment_status"]
        self.price = fields["price"].to_representation
        # DRF's DateTimeField looks the current time zone up for every value (a context-local
        # read); here once per list, then formatted as that field formats (ISO 8601, UTC as Z).
        self.zone = fields["created_at"].default_timezone()
        self.centre = timezone.get_current_timezone()  # SessionRefSerializer's localtime()

    def datetime(self, value: datetime) -> str:
        text = value.astimezone(self.zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    def __call__(self, bookings: Iterable[Booking]) -> list[dict[str, Any]]:
        return [self.row(booking) for booking in bookings]

    def row(self, booking: Booking) -> dict[str, Any]:
        seconds = booking.time_left.total_seconds()
        expires_at = booking.expires_at
        return {
            "reference": booking.reference,
            "status": booking.status,
            "payment_status": self.payment_status.to_representation(booking),
            "payment_method": booking.payment_method,
            "price": self.price(booking.price),
            "currency": booking.currency,
            "expires_at": None if expires_at is None else self.datetime(expires_at),
            "hours_left": int(seconds // 3600),
            "minutes_left": int(seconds % 3600 // 60),
            "is_expired": booking.is_expired,
            "has_result": booking.has_result,
            "created_at": self.datetime(booking.created_at),
            "session": self.session(booking.session),
        }

    def session(self, session: Session) -> dict[str, Any]:
        local = session.starts_at.astimezone(self.centre)
        product = session.product
        return {
            "id": session.pk,
            "product": {"id": product.pk, "code": product.code, "name": product.name},
            "session_date": local.date().isoformat(),
            "session_time": f"{local:%H:%M}",
            "starts_at": self.datetime(session.starts_at),
            "ends_at": self.datetime(session.ends_at),
            "tutor": None if session.tutor_id is None else {"id": session.tutor_id, "name": tutor_name(session.tutor)},
            "room": session.room,
        }


class PaymentLinksSerializer(serializers.Serializer):
    click = serializers.URLField(required=False, help_text="Click's payment page for this booking.")
    payme = serializers.URLField(required=False, help_text="Payme's checkout for this booking.")


class BookingDetailSerializer(BookingSerializer):
    """A booking with its payment links: empty once nothing is owed, or for a provider not set up."""

    payment_links = serializers.SerializerMethodField()

    class Meta(BookingSerializer.Meta):
        fields = [*BookingSerializer.Meta.fields, "payment_links"]
        read_only_fields = fields

    @extend_schema_field(PaymentLinksSerializer)
    def get_payment_links(self, booking: Booking) -> dict[str, str]:
        return payment_links(booking)


class BookingCreateSerializer(serializers.Serializer):
    session = StrictPrimaryKeyRelatedField(
        queryset=Session.objects.all(), help_text="The session's id (from sessions/)."
    )
    payment_method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.CASH)


class RescheduleSerializer(serializers.Serializer):
    session = StrictPrimaryKeyRelatedField(
        queryset=Session.objects.all(), help_text="Another session of the same product."
    )


class CancelSerializer(serializers.Serializer):
    reason = StrictCharField(
        required=False, allow_blank=True, max_length=500, help_text="Why, in the student's words (optional)."
    )


class BookingPaymentSerializer(serializers.Serializer):
    reference = serializers.CharField()
    amount_owed = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="What is still to pay.")
    currency = serializers.CharField()
    links = PaymentLinksSerializer()


class BookingEventSerializer(serializers.ModelSerializer):
    by = serializers.SerializerMethodField(help_text="you, staff or system.")
    reason = serializers.SerializerMethodField(help_text="A cancellation's reason code, else empty.")

    class Meta:
        model = BookingEvent
        fields = ["action", "created_at", "by", "reason"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["you", "staff", "system"]))
    def get_by(self, event: BookingEvent) -> str:
        if event.actor_id is None:
            return "system"
        return "you" if event.actor_id == self.context["request"].user.pk else "staff"

    def get_reason(self, event: BookingEvent) -> str:
        reason: Any = event.data.get("reason", "") if isinstance(event.data, dict) else ""
        return reason if isinstance(reason, str) else ""
