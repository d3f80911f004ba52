"""Products and sessions as students see them."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.models import Product, Session, Tutor


def tutor_name(tutor: Tutor) -> str:
    # The name only: str(user) falls back to the phone or e-mail, which students are not shown.
    return tutor.user.get_full_name() or f"Tutor {tutor.pk}"


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "code", "name", "kind", "duration_minutes", "price", "currency", "scoring"]
        read_only_fields = fields


class ProductRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "code", "name"]
        read_only_fields = fields


class TutorRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SessionRefSerializer(serializers.ModelSerializer):
    """A session inside a booking: what it is, when (the centre's local date and time), who, where."""

    product = ProductRefSerializer()
    session_date = serializers.SerializerMethodField(help_text="The local day, YYYY-MM-DD.")
    session_time = serializers.SerializerMethodField(help_text="The local start time, HH:MM.")
    tutor = serializers.SerializerMethodField()

    class Meta:
        model = Session
        fields = ["id", "product", "session_date", "session_time", "starts_at", "ends_at", "tutor", "room"]
        read_only_fields = fields

    def get_session_date(self, session: Session) -> str:
        return timezone.localtime(session.starts_at).date().isoformat()

    def get_session_time(self, session: Session) -> str:
        return f"{timezone.localtime(session.starts_at):%H:%M}"

    @extend_schema_field(TutorRefSerializer(allow_null=True))
    def get_tutor(self, session: Session) -> dict[str, Any] | None:
        if session.tutor_id is None:
            return None
        return {"id": session.tutor_id, "name": tutor_name(session.tutor)}


class SessionSerializer(SessionRefSerializer):
    """A bookable session with its seats."""

    seats_left = serializers.IntegerField(read_only=True)

    class Meta(SessionRefSerializer.Meta):
        fields = [*SessionRefSerializer.Meta.fields, "status", "capacity", "seats_taken", "seats_left"]
        read_only_fields = fields


class SessionDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    sessions = SessionSerializer(many=True)


class SessionCalendarSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    days = SessionDaySerializer(many=True, help_text="Only the days that have sessions, in order.")
