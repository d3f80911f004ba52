"""What a tutor reads and sends under ``tutor/``. Shapes and types only: the rules are the
services' (``bookings.services.tutors``, ``bookings.services.sessions``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.bookings import BookingSerializer
from api.serializers.catalog import SessionSerializer
from api.serializers.fields import StrictCharField, StrictPrimaryKeyRelatedField
from bookings.models import Availability, Booking, DateException, Product, Tutor
from bookings.services.tutors import SETTINGS_FIELDS

# The largest value a PositiveIntegerField holds on every database (PostgreSQL's integer): the
# schema is the same whichever database generated it.
MAX_INT = 2**31 - 1


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (DRF would take "3" too, which the schema does not allow)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_INT)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false (DRF would take "yes" or 1 too)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class TutorSettingsSerializer(serializers.ModelSerializer):
    timezone = StrictCharField(max_length=64, help_text="An IANA time zone, e.g. Asia/Tashkent.")
    lesson_minutes = StrictIntegerField(required=False)
    buffer_before_minutes = StrictIntegerField(required=False)
    buffer_after_minutes = StrictIntegerField(required=False)
    min_notice_hours = StrictIntegerField(required=False, help_text="Bookings closer to the start are refused.")
    max_advance_days = StrictIntegerField(required=False, help_text="How far ahead sessions are generated.")
    auto_confirm = StrictBooleanField(required=False, help_text="Confirm bookings at once, without payment.")

    class Meta:
        model = Tutor
        fields = ["id", *SETTINGS_FIELDS]
        read_only_fields = ["id"]


class AvailabilitySerializer(serializers.ModelSerializer):
    product = StrictPrimaryKeyRelatedField(
        queryset=Product.objects.all(), help_text="What the generated sessions sell (the product's id)."
    )
    weekday = StrictIntegerField(max_value=6, help_text="0 Monday … 6 Sunday.")

    class Meta:
        model = Availability
        fields = ["id", "product", "weekday", "start_time", "end_time", "valid_from", "valid_until"]
        read_only_fields = ["id"]


class AvailabilityBulkSerializer(serializers.Serializer):
    windows = AvailabilitySerializer(many=True, help_text="The whole week; replaces every window you have.")


class DateExceptionSerializer(serializers.ModelSerializer):
    note = StrictCharField(max_length=200, required=False, allow_blank=True, default="")

    class Meta:
        model = DateException
        fields = ["id", "date", "kind", "start_time", "end_time", "note"]
        read_only_fields = ["id"]
        extra_kwargs = {"start_time": {"help_text": "Leave out both times for the whole day."}}


class TutorSessionSerializer(SessionSerializer):
    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "source"]
        read_only_fields = fields


class SessionCreateSerializer(serializers.Serializer):
    product = StrictPrimaryKeyRelatedField(queryset=Product.objects.filter(is_active=True))
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(required=False, help_text="Default: the start plus the product's duration.")
    capacity = StrictIntegerField(required=False, min_value=1, help_text="Default: the product's default capacity.")
    room = StrictCharField(required=False, allow_blank=True, max_length=60, default="")


class StudentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    phone = serializers.CharField(allow_blank=True)


class TutorBookingSerializer(BookingSerializer):
    """A booking in one of the tutor's sessions, with who booked it."""

    student = serializers.SerializerMethodField()

    class Meta(BookingSerializer.Meta):
        fields = [*BookingSerializer.Meta.fields, "student"]
        read_only_fields = fields

    @extend_schema_field(StudentRefSerializer)
    def get_student(self, booking: Booking) -> dict[str, Any]:
        student = booking.student
        return {"id": student.pk, "name": student.get_full_name() or str(student), "phone": student.phone or ""}


class TutorStatisticsSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM, in your time zone.")
    sessions_this_month = serializers.IntegerField(help_text="Your sessions starting this month, not cancelled.")
    bookings_this_month = serializers.IntegerField(help_text="Bookings in them that hold or used a seat.")
    fill_rate = serializers.DecimalField(max_digits=5, decimal_places=1, help_text="Seats booked of seats offered, %.")
    no_show_rate = serializers.DecimalField(
        max_digits=5, decimal_places=1, help_text="No-shows of the finished bookings, %."
    )
    average_feedback_score = serializers.DecimalField(
        max_digits=3, decimal_places=1, allow_null=True, help_text="Of your completed feedback; null when none."
    )
