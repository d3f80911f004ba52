"""A tutor's own endpoints under ``tutor/``: settings, availability, days off, sessions, bookings,
statistics (the calendar is in api.views.calendar).

Everything is looked up through ``request.user.tutor``: another tutor's ids are a 404. Every change
goes through ``bookings.services`` (sessions, bookings) or ``bookings.services.tutors`` (settings,
availability, days off); their refusals become 400 (a field's rule) or 409/422 (api.errors).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import DayFilter, StrictFilterSet
from api.permissions import IsTutor
from api.schema import error
from api.serializers.tutor import (
    AvailabilityBulkSerializer,
    AvailabilitySerializer,
    DateExceptionSerializer,
    SessionCreateSerializer,
    TutorBookingSerializer,
    TutorSessionSerializer,
    TutorSettingsSerializer,
    TutorStatisticsSerializer,
)
from bookings import services
from bookings.models import Availability, Booking, BookingStatus, DateException, Session, SessionStatus, Tutor
from bookings.reports import local_midnight
from bookings.selectors import tutor_bookings, tutor_stats
from bookings.services import tutors as tutor_services

TAGS = ["tutor"]
REFUSED = error("`booking_not_allowed` or `invalid_transition`: the booking rules refuse it; `detail` says why.")
SESSION_REFUSED = error(
    "`session_change_refused` (the schedule refuses it: `fields` names the field), or `invalid_transition`."
)


def tutor_of(request: Request) -> Tutor:
    return request.user.tutor


class TutorView(generics.GenericAPIView):
    permission_classes = [IsTutor]


# --- Settings ------------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(tags=TAGS, summary="Your settings"),
    patch=extend_schema(tags=TAGS, summary="Change your settings (time zone, lessons, notice, policy)"),
)
class SettingsView(TutorView):
    serializer_class = TutorSettingsSerializer

    def get(self, request: Request) -> Response:
        return Response(TutorSettingsSerializer(tutor_of(request)).data)

    def patch(self, request: Request) -> Response:
        tutor = tutor_of(request)
        serializer = TutorSettingsSerializer(tutor, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        tutor = tutor_services.update_tutor_settings(tutor, changes=serializer.validated_data, actor=request.user)
        return Response(TutorSettingsSerializer(tutor).data)


# --- Weekly availability -------------------------------------------------------------------------


def availability_of(request: Request) -> QuerySet[Availability]:
    return Availability.objects.filter(tutor=tutor_of(request)).order_by("weekday", "start_time", "id")


@extend_schema_view(
    get=extend_schema(tags=TAGS, summary="Your weekly availability (your local time)"),
    post=extend_schema(tags=TAGS, summary="Add a weekly window", responses={201: AvailabilitySerializer}),
)
class AvailabilityListView(TutorView, generics.ListAPIView):
    serializer_class = AvailabilitySerializer
    queryset = Availability.objects.none()  # for the schema

    def get_queryset(self) -> QuerySet[Availability]:
        return availability_of(self.request)

    def post(self, request: Request) -> Response:
        serializer = AvailabilitySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        window = tutor_services.add_availability(tutor_of(request), **serializer.validated_data, actor=request.user)
        return Response(AvailabilitySerializer(window).data, status=status.HTTP_201_CREATED)


class AvailabilityBulkView(TutorView):
    serializer_class = AvailabilityBulkSerializer
    queryset = Availability.objects.none()  # for the schema

    @extend_schema(
        tags=TAGS,
        summary="Replace your whole week",
        request=AvailabilityBulkSerializer,
        responses={200: AvailabilitySerializer(many=True)},
        description="Every window is checked first: one bad window changes nothing. Generated sessions stay.",
    )
    def put(self, request: Request) -> Response:
        serializer = AvailabilityBulkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tutor_services.replace_availability(
            tutor_of(request), windows=serializer.validated_data["windows"], actor=request.user
        )
        return Response(AvailabilitySerializer(availability_of(request), many=True).data)


@extend_schema_view(
    get=extend_schema(tags=TAGS, summary="One weekly window"),
    delete=extend_schema(tags=TAGS, summary="Remove a weekly window", responses={204: None}),
)
class AvailabilityDetailView(TutorView):
    serializer_class = AvailabilitySerializer

    def get(self, request: Request, pk: int) -> Response:
        return Response(AvailabilitySerializer(get_object_or_404(availability_of(request), pk=pk)).data)

    def delete(self, request: Request, pk: int) -> Response:
        tutor_services.remove_availability(get_object_or_404(availability_of(request), pk=pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Date exceptions -----------------------------------------------------------------------------


def exceptions_of(request: Request) -> QuerySet[DateException]:
    return DateException.objects.filter(tutor=tutor_of(request)).order_by("date", "start_time", "id")


@extend_schema_view(
    get=extend_schema(tags=TAGS, summary="Your days off (and parts of days)"),
    post=extend_schema(tags=TAGS, summary="Add a day off", responses={201: DateExceptionSerializer}),
)
class ExceptionListView(TutorView, generics.ListAPIView):
    serializer_class = DateExceptionSerializer
    queryset = DateException.objects.none()  # for the schema

    def get_queryset(self) -> QuerySet[DateException]:
        return exceptions_of(self.request)

    def post(self, request: Request) -> Response:
        serializer = DateExceptionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        exception = tutor_services.add_date_exception(
            tutor_of(request), **serializer.validated_data, actor=request.user
        )
        return Response(DateExceptionSerializer(exception).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(tags=TAGS, summary="One day off"),
    delete=extend_schema(tags=TAGS, summary="Remove a day off", responses={204: None}),
)
class ExceptionDetailView(TutorView):
    serializer_class = DateExceptionSerializer

    def get(self, request: Request, pk: int) -> Response:
        return Response(DateExceptionSerializer(get_object_or_404(exceptions_of(request), pk=pk)).data)

    def delete(self, request: Request, pk: int) -> Response:
        tutor_services.remove_date_exception(get_object_or_404(exceptions_of(request), pk=pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Sessions ------------------------------------------------------------------------------------


def sessions_of(request: Request) -> QuerySet[Session]:
    return Session.objects.filter(tutor=tutor_of(request)).select_related("product", "tutor__user")


class TutorSessionFilter(StrictFilterSet):
    date_from = DayFilter(method="filter_date_from", help_text="Starting on or after this day (local).")
    date_to = DayFilter(method="filter_date_to", help_text="Starting on or before this day (local).")
    status = django_filters.ChoiceFilter(choices=SessionStatus.choices)

    class Meta:
        model = Session
        fields: list[str] = []

    def filter_date_from(self, queryset: QuerySet[Session], name: str, value) -> QuerySet[Session]:
        return queryset.filter(starts_at__gte=local_midnight(value))

    def filter_date_to(self, queryset: QuerySet[Session], name: str, value) -> QuerySet[Session]:
        return queryset.filter(starts_at__lt=local_midnight(value + timedelta(days=1)))


@extend_schema_view(get=extend_schema(tags=TAGS, summary="Your sessions, soonest first"))
class SessionListView(TutorView, generics.ListAPIView):
    serializer_class = TutorSessionSerializer
    filterset_class = TutorSessionFilter
    queryset = Session.objects.none()  # for the schema

    def get_queryset(self) -> QuerySet[Session]:
        return sessions_of(self.request).order_by("starts_at", "id")

    @extend_schema(
        tags=TAGS,
        summary="Add a one-off session",
        request=SessionCreateSerializer,
        responses={201: TutorSessionSerializer, 422: SESSION_REFUSED},
    )
    def post(self, request: Request) -> Response:
        serializer = SessionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = services.create_session(tutor=tutor_of(request), **serializer.validated_data, actor=request.user)
        session = get_object_or_404(sessions_of(request), pk=session.pk)
        return Response(TutorSessionSerializer(session).data, status=status.HTTP_201_CREATED)


class SessionStatusView(TutorView):
    serializer_class = TutorSessionSerializer
    change = staticmethod(services.close_session)

    def post(self, request: Request, pk: int) -> Response:
        session = get_object_or_404(sessions_of(request), pk=pk)
        self.change(session, actor=request.user)
        return Response(TutorSessionSerializer(get_object_or_404(sessions_of(request), pk=pk)).data)


@extend_schema_view(
    post=extend_schema(
        tags=TAGS,
        summary="Close a session to new bookings (block the slot)",
        request=None,
        responses={200: TutorSessionSerializer, 422: SESSION_REFUSED},
    )
)
class SessionCloseView(SessionStatusView):
    change = staticmethod(services.close_session)


@extend_schema_view(
    post=extend_schema(
        tags=TAGS,
        summary="Reopen a closed session (unblock the slot)",
        request=None,
        responses={200: TutorSessionSerializer, 422: SESSION_REFUSED},
    )
)
class SessionReopenView(SessionStatusView):
    change = staticmethod(services.reopen_session)


# --- Bookings ------------------------------------------------------------------------------------


def bookings_of(request: Request) -> QuerySet[Booking]:
    return tutor_bookings(tutor_of(request)).select_related("student", "session__product", "session__tutor__user")


class TutorBookingFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=BookingStatus.choices, help_text="Every status unless given.")

    class Meta:
        model = Booking
        fields: list[str] = []


@extend_schema_view(get=extend_schema(tags=TAGS, summary="Bookings in your sessions, soonest session first"))
class BookingListView(TutorView, generics.ListAPIView):
    serializer_class = TutorBookingSerializer
    filterset_class = TutorBookingFilter
    queryset = Booking.objects.none()  # for the schema

    def get_queryset(self) -> QuerySet[Booking]:
        return bookings_of(self.request).order_by("session__starts_at", "id")


class BookingActionView(TutorView):
    serializer_class = TutorBookingSerializer
    transition = staticmethod(services.confirm)

    def post(self, request: Request, reference: str) -> Response:
        booking = get_object_or_404(bookings_of(request), reference=reference)
        self.transition(booking, actor=request.user)
        return Response(TutorBookingSerializer(get_object_or_404(bookings_of(request), reference=reference)).data)


def _action_schema(summary: str) -> dict:
    return {
        "post": extend_schema(
            tags=TAGS, summary=summary, request=None, responses={200: TutorBookingSerializer, 422: REFUSED}
        )
    }


@extend_schema_view(**_action_schema("Confirm a pending booking"))
class BookingConfirmView(BookingActionView):
    transition = staticmethod(services.confirm)


@extend_schema_view(**_action_schema("Mark a confirmed booking completed (after the start)"))
class BookingCompleteView(BookingActionView):
    transition = staticmethod(services.complete)


@extend_schema_view(**_action_schema("Mark a confirmed booking a no-show (after the start)"))
class BookingNoShowView(BookingActionView):
    transition = staticmethod(services.mark_no_show)


# --- Statistics ----------------------------------------------------------------------------------


class StatisticsView(TutorView):
    serializer_class = TutorStatisticsSerializer

    @extend_schema(tags=TAGS, summary="This month's figures (your time zone) and your feedback score")
    def get(self, request: Request) -> Response:
        tutor = tutor_of(request)
        today = timezone.localtime(timezone.now(), tutor.tzinfo).date()
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        start = datetime.combine(first, time.min, tzinfo=tutor.tzinfo)
        end = datetime.combine(following, time.min, tzinfo=tutor.tzinfo)
        stats = tutor_stats(tutor, first=start, end=end)
        body = {
            "month": f"{first:%Y-%m}",
            "sessions_this_month": stats.sessions,
            "bookings_this_month": stats.bookings,
            "fill_rate": stats.fill_rate,
            "no_show_rate": stats.no_show_rate,
            "average_feedback_score": stats.average_feedback,
        }
        return Response(TutorStatisticsSerializer(body).data)
