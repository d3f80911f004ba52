"""Bookings as their student sees them (DESIGN.md, "API": the field names are binding)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.catalog import SessionRefSerializer
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
