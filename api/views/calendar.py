"""Calendars: a student's own sessions (``calendar/``) and a tutor's (``tutor/calendar/``), by month,
week or day, and each as an iCal file (``export/``), built by ``bookings.calendar_feed``.

Days are the centre's days (settings.TIME_ZONE), as on the back office's calendar; a week starts on
Monday; a month is its first to its last day.
"""

from __future__ import annotations

import calendar as stdlib_calendar
import re
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from itertools import groupby
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import EARLIEST_DAY, LATEST_DAY
from api.permissions import IsStudent, IsTutor
from api.schema import error
from api.serializers.catalog import SessionRefSerializer
from api.serializers.tutor import TutorSessionSerializer
from bookings.calendar_feed import student_calendar, tutor_calendar
from bookings.models import Booking, BookingStatus, Session
from bookings.reports import local_midnight

VIEWS = ("month", "week", "day")
# A student's calendar shows the sessions they hold a seat in, attended or missed.
SHOWN = (BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)


class DayField(serializers.DateField):
    """A day as YYYY-MM-DD exactly (strptime alone would take 2026-1-5), in the range api.filters allows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(input_formats=["%Y-%m-%d"], **kwargs)

    def to_internal_value(self, value: Any) -> date:
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise serializers.ValidationError("Enter a day as YYYY-MM-DD.")
        day = super().to_internal_value(value)
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise serializers.ValidationError(f"Enter a day between {EARLIEST_DAY} and {LATEST_DAY}.")
        return day


class CalendarQuerySerializer(serializers.Serializer):
    view = serializers.ChoiceField(choices=VIEWS, default="month")
    date = DayField(required=False, help_text="Default: today (local).")

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Sent empty (``?date=``) is a 400, as the schema has it, not "the default".
        blank = {name: ["Give a value, or leave the parameter out."] for name in self.fields if data.get(name) == ""}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


def visible_range(view: str, day: date) -> tuple[date, date]:
    """The first and the last day of the ``view`` around ``day``."""
    if view == "day":
        return day, day
    if view == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    return day.replace(day=1), day.replace(day=stdlib_calendar.monthrange(day.year, day.month)[1])


def calendar_body(
    request: Request,
    rows: Callable[[Any, Any], Iterable[Any]],
    starts_at: Callable[[Any], Any],
) -> dict[str, Any]:
    query = CalendarQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    view = query.validated_data["view"]
    day = query.validated_data.get("date") or timezone.localdate()
    first, last = visible_range(view, day)
    items = rows(local_midnight(first), local_midnight(last + timedelta(days=1)))
    days = [
        {"date": d, "items": list(group)}
        for d, group in groupby(items, key=lambda item: timezone.localtime(starts_at(item)).date())
    ]
    return {"view": view, "date": day, "date_from": first, "date_to": last, "days": days}


class CalendarBookingSerializer(serializers.ModelSerializer):
    session = SessionRefSerializer()

    class Meta:
        model = Booking
        fields = ["reference", "status", "session"]
        read_only_fields = fields


def calendar_serializer(name: str, item: serializers.Serializer) -> type[serializers.Serializer]:
    day = type(f"{name}DaySerializer", (serializers.Serializer,), {"date": serializers.DateField(), "items": item})
    fields = {
        "view": serializers.ChoiceField(choices=VIEWS),
        "date": serializers.DateField(),
        "date_from": serializers.DateField(),
        "date_to": serializers.DateField(),
        "days": day(many=True, help_text="Only the days that have something, in order."),
    }
    return type(f"{name}Serializer", (serializers.Serializer,), fields)


StudentCalendarSerializer = calendar_serializer("StudentCalendar", CalendarBookingSerializer(many=True))
TutorCalendarSerializer = calendar_serializer("TutorCalendar", TutorSessionSerializer(many=True))

PARAMETERS = [
    OpenApiParameter("view", OpenApiTypes.STR, enum=list(VIEWS), description="month (default), week or day."),
    OpenApiParameter("date", OpenApiTypes.DATE, description="A day in the period shown (default: today)."),
]
ICAL = {(200, "text/calendar"): OpenApiResponse(OpenApiTypes.BINARY, description="An iCalendar (RFC 5545) file.")}


def ical(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class StudentCalendarView(generics.GenericAPIView):
    permission_classes = [IsStudent]
    serializer_class = StudentCalendarSerializer

    @extend_schema(
        tags=["calendar"],
        summary="Your sessions by month, week or day",
        parameters=PARAMETERS,
        responses={200: StudentCalendarSerializer, 400: error("`view` or `date` does not parse.")},
    )
    def get(self, request: Request) -> Response:
        def rows(start: Any, end: Any) -> QuerySet[Booking]:
            return (
                Booking.objects.filter(
                    student=request.user, status__in=SHOWN, session__starts_at__gte=start, session__starts_at__lt=end
                )
                .select_related("session__product", "session__tutor__user")
                .order_by("session__starts_at", "id")
            )

        body = calendar_body(request, rows, lambda booking: booking.session.starts_at)
        return Response(StudentCalendarSerializer(body).data)


class StudentCalendarExportView(generics.GenericAPIView):
    permission_classes = [IsStudent]

    @extend_schema(tags=["calendar"], summary="Your sessions as an iCal file", responses=ICAL)
    def get(self, request: Request) -> HttpResponse:
        return ical(student_calendar(request.user), "seatdesk.ics")


class TutorCalendarView(generics.GenericAPIView):
    permission_classes = [IsTutor]
    serializer_class = TutorCalendarSerializer

    @extend_schema(
        tags=["tutor"],
        summary="Your sessions by month, week or day (cancelled ones too)",
        parameters=PARAMETERS,
        responses={200: TutorCalendarSerializer, 400: error("`view` or `date` does not parse.")},
    )
    def get(self, request: Request) -> Response:
        def rows(start: Any, end: Any) -> QuerySet[Session]:
            return (
                Session.objects.filter(tutor=request.user.tutor, starts_at__gte=start, starts_at__lt=end)
                .select_related("product", "tutor__user")
                .order_by("starts_at", "id")
            )

        body = calendar_body(request, rows, lambda session: session.starts_at)
        return Response(TutorCalendarSerializer(body).data)


class TutorCalendarExportView(generics.GenericAPIView):
    permission_classes = [IsTutor]

    @extend_schema(tags=["tutor"], summary="Your sessions as an iCal file", responses=ICAL)
    def get(self, request: Request) -> HttpResponse:
        return ical(tutor_calendar(request.user.tutor), "seatdesk-tutor.ics")
