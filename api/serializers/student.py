"""A student's figures, results, feedback and notifications (DESIGN.md, "API": field names binding)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.catalog import ProductRefSerializer, tutor_name
from api.serializers.fields import StrictCharField
from bookings.models import FeedbackKind, FeedbackRequest, TestResult
from realtime.events import EVENT_TYPES
from realtime.models import Notification

SCORE = {"max_digits": 3, "decimal_places": 1, "allow_null": True, "read_only": True}


class DashboardStatsSerializer(serializers.Serializer):
    total_tests = serializers.IntegerField(help_text="Results recorded on your bookings.")
    average_score = serializers.FloatField(help_text="Mean overall band, one decimal; 0 without a scored result.")
    best_score = serializers.FloatField(help_text="Best overall band, one decimal; 0 without a scored result.")
    upcoming_tests = serializers.IntegerField(help_text="Confirmed bookings whose session has not started.")


class ResultSerializer(serializers.ModelSerializer):
    """A test result with its band scores (strings with one decimal, as prices are; null when not given)."""

    reference = serializers.CharField(source="booking.reference", help_text="The booking's reference.")
    product = ProductRefSerializer(source="booking.session.product")
    session_date = serializers.SerializerMethodField(help_text="The session's local day, YYYY-MM-DD.")
    listening = serializers.DecimalField(**SCORE)
    reading = serializers.DecimalField(**SCORE)
    writing = serializers.DecimalField(**SCORE)
    speaking = serializers.DecimalField(**SCORE)
    overall = serializers.DecimalField(**SCORE)

    class Meta:
        model = TestResult
        fields = [
            "id",
            "reference",
            "product",
            "session_date",
            "test_date",
            "listening",
            "reading",
            "writing",
            "speaking",
            "overall",
        ]
        read_only_fields = fields

    def get_session_date(self, result: TestResult) -> str:
        return timezone.localtime(result.booking.session.starts_at).date().isoformat()


class FeedbackSerializer(serializers.ModelSerializer):
    """A submission and, once a tutor has reviewed it, its score and comment."""

    reference = serializers.SerializerMethodField(help_text="The booking it is about, if any.")
    tutor = serializers.SerializerMethodField(help_text="The reviewing tutor's name, once assigned.")
    score = serializers.DecimalField(**SCORE)

    class Meta:
        model = FeedbackRequest
        fields = [
            "id",
            "kind",
            "task",
            "submission",
            "reference",
            "tutor",
            "score",
            "comment",
            "completed",
            "completed_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_reference(self, feedback: FeedbackRequest) -> str | None:
        return feedback.booking.reference if feedback.booking_id else None

    def get_tutor(self, feedback: FeedbackRequest) -> str | None:
        return tutor_name(feedback.tutor) if feedback.tutor_id else None


class FeedbackCreateSerializer(serializers.Serializer):
    """JSON or multipart: the text in ``text``, or a file (multipart) in ``file``; one of them."""

    kind = serializers.ChoiceField(choices=FeedbackKind.choices, default=FeedbackKind.WRITING)
    task = StrictCharField(required=False, allow_blank=True, max_length=200, help_text="The prompt you answered.")
    text = StrictCharField(
        required=False, allow_blank=False, max_length=20000, help_text="Your essay or transcript (or send `file`)."
    )
    file = serializers.FileField(
        required=False, help_text="A document or recording (multipart only; see the size limit in `detail`)."
    )
    reference = StrictCharField(required=False, max_length=20, help_text="One of your bookings it is about.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("text" in attrs) == ("file" in attrs):
            raise serializers.ValidationError({"text": ["Send either the text or a file, not both nor neither."]})
        return attrs


class FeedbackStatsSerializer(serializers.Serializer):
    total_submissions = serializers.IntegerField()
    completed_feedback = serializers.IntegerField()
    average_score = serializers.CharField(help_text='Mean score of the completed ones, one decimal ("0.0" if none).')


class NotificationSerializer(serializers.ModelSerializer):
    data = serializers.SerializerMethodField(help_text="The event's data (booking reference, session ...).")
    type = serializers.ChoiceField(choices=sorted(EVENT_TYPES), read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "type", "title", "message", "data", "read", "read_at", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.JSONField()))
    def get_data(self, notification: Notification) -> dict[str, Any]:
        envelope = notification.data if isinstance(notification.data, dict) else {}
        data = envelope.get("data", {})
        return data if isinstance(data, dict) else {}


class ReadSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many were marked read by this request.")
    unread_count = serializers.IntegerField(help_text="Your unread notifications now.")
