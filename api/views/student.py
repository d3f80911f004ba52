"""A student's dashboard figures, results and feedback.

The figures come from ``bookings.selectors`` (the same ones the back office shows); a submission
goes through ``bookings.services.feedback.request_feedback``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import PurePath
from uuid import uuid4

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.generics import get_object_or_404
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ApiError
from api.permissions import IsStudent
from api.schema import error
from api.serializers.student import (
    DashboardStatsSerializer,
    FeedbackCreateSerializer,
    FeedbackSerializer,
    FeedbackStatsSerializer,
    ResultSerializer,
)
from bookings.errors import BookingError
from bookings.models import Booking, FeedbackRequest, TestResult
from bookings.selectors import feedback_stats, student_stats
from bookings.services.feedback import request_feedback

# A file sent for feedback: an essay as a document, or a speaking recording.
MAX_FEEDBACK_FILE_BYTES = 10 * 2**20
FEEDBACK_FILE_TYPES = frozenset(
    {".txt", ".pdf", ".doc", ".docx", ".odt", ".rtf", ".mp3", ".m4a", ".wav", ".ogg", ".webm", ".aac"}
)
FEEDBACK_DIR = "feedback"  # under MEDIA_ROOT; the submission holds the file's URL


def score(value: Decimal | None) -> float:
    return float(value) if value is not None else 0.0


class StudentView(generics.GenericAPIView):
    permission_classes = [IsStudent]


class DashboardStatsView(StudentView):
    serializer_class = DashboardStatsSerializer

    @extend_schema(tags=["dashboard"], summary="Your tests, scores and upcoming sessions")
    def get(self, request: Request) -> Response:
        stats = student_stats(request.user)
        body = {
            "total_tests": stats.total_tests,
            "average_score": score(stats.average_overall),
            "best_score": score(stats.best_overall),
            "upcoming_tests": stats.upcoming,
        }
        return Response(DashboardStatsSerializer(body).data)


@extend_schema_view(get=extend_schema(tags=["results"], summary="Your results with band scores, latest first"))
class ResultListView(StudentView, generics.ListAPIView):
    serializer_class = ResultSerializer
    queryset = TestResult.objects.none()  # for the schema

    def get_queryset(self) -> QuerySet[TestResult]:
        return (
            TestResult.objects.filter(booking__student=self.request.user)
            .select_related("booking__session__product")
            .order_by("-test_date", "-created_at", "-id")
        )


@extend_schema_view(get=extend_schema(tags=["feedback"], summary="Your feedback submissions, newest first"))
class FeedbackView(StudentView, generics.ListAPIView):
    serializer_class = FeedbackSerializer
    parser_classes = [JSONParser, MultiPartParser]
    queryset = FeedbackRequest.objects.none()  # for the schema

    def get_queryset(self) -> QuerySet[FeedbackRequest]:
        return (
            FeedbackRequest.objects.filter(student=self.request.user)
            .select_related("booking", "tutor__user")
            .order_by("-created_at", "-id")
        )

    @extend_schema(
        tags=["feedback"],
        summary="Send a writing or speaking task for a tutor's review",
        request={"application/json": FeedbackCreateSerializer, "multipart/form-data": FeedbackCreateSerializer},
        responses={
            201: FeedbackSerializer,
            404: error("`not_found`: `reference` names no booking of yours."),
            422: error("`booking_not_allowed`: the submission is refused."),
        },
        description=(
            "The text as `text` (JSON or multipart), or a file as `file` (multipart): a document or a recording "
            f"({', '.join(sorted(FEEDBACK_FILE_TYPES))}) of at most {MAX_FEEDBACK_FILE_BYTES // 2**20} MiB. "
            "`reference` ties it to one of your bookings."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = FeedbackCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        booking = None
        if "reference" in data:
            booking = get_object_or_404(Booking.objects.filter(student=request.user), reference=data["reference"])
        upload = data.get("file")
        stored = store_upload(upload, student_id=request.user.pk) if upload is not None else None
        try:
            feedback = request_feedback(
                student=request.user,
                submission=default_storage.url(stored) if stored else data["text"],
                kind=data["kind"],
                task=data.get("task", ""),
                booking=booking,
                actor=request.user,
            )
        except BookingError:
            if stored:
                default_storage.delete(stored)  # nothing kept for a refused submission
            raise
        feedback = self.get_queryset().get(pk=feedback.pk)
        return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)


def store_upload(upload: UploadedFile, *, student_id: int) -> str:
    """Check a submitted file (type, size: a 400 with the reason) and store it; its storage name."""
    suffix = PurePath(upload.name or "").suffix.lower()
    if suffix not in FEEDBACK_FILE_TYPES:
        raise ApiError(
            f"Send a document or a recording: {', '.join(sorted(FEEDBACK_FILE_TYPES))}.",
            code="invalid",
            fields={"file": [f"“{suffix or 'no extension'}” files are not accepted."]},
        )
    if upload.size > MAX_FEEDBACK_FILE_BYTES:
        limit = f"{MAX_FEEDBACK_FILE_BYTES // 2**20} MiB"
        raise ApiError(
            f"The file is too large: at most {limit}.",
            code="invalid",
            fields={"file": [f"The file is {upload.size} bytes; the limit is {limit}."]},
        )
    # A name of ours: the student's name for the file never reaches the file system.
    return default_storage.save(f"{FEEDBACK_DIR}/{student_id}/{uuid4().hex}{suffix}", upload)


class FeedbackStatsView(StudentView):
    serializer_class = FeedbackStatsSerializer

    @extend_schema(tags=["feedback"], summary="How many you sent, how many were reviewed, their mean score")
    def get(self, request: Request) -> Response:
        stats = feedback_stats(request.user)
        body = {
            "total_submissions": stats.total,
            "completed_feedback": stats.completed,
            "average_score": f"{stats.average_score if stats.average_score is not None else Decimal('0.0')}",
        }
        return Response(FeedbackStatsSerializer(body).data)
