"""What can be booked: products, and sessions with their seats (a list, or by day for a calendar)."""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import SessionFilter
from api.schema import error
from api.serializers.catalog import ProductSerializer, SessionCalendarSerializer, SessionSerializer
from bookings.models import Product, Session
from bookings.reports import local_midnight
from bookings.selectors import bookable_sessions

# sessions/by-date/: a month from date_from unless date_to says otherwise, never more than this.
CALENDAR_DEFAULT_DAYS = 31
CALENDAR_MAX_DAYS = 62


@extend_schema_view(get=extend_schema(tags=["catalog"], summary="Products on sale"))
class ProductListView(generics.ListAPIView):
    serializer_class = ProductSerializer
    queryset = Product.objects.filter(is_active=True).order_by("name", "id")


def sessions_for(request: Request) -> QuerySet[Session]:
    return (
        bookable_sessions(request.user, now=timezone.now())
        .select_related("product", "tutor__user")
        .order_by("starts_at", "id")
    )


@extend_schema_view(
    get=extend_schema(
        tags=["catalog"],
        summary="Sessions you can book, with their seats",
        description=(
            "Open sessions that have not started, outside the tutor's minimum notice, where you hold no "
            "seat yet; full ones too (`seats_left` 0) unless `available=true`. Soonest first. For a "
            "calendar picker, sessions/by-date/ groups them by day."
        ),
    )
)
class SessionListView(generics.ListAPIView):
    serializer_class = SessionSerializer
    filterset_class = SessionFilter
    queryset = Session.objects.none()  # for the schema; get_queryset() is the student's own

    def get_queryset(self) -> QuerySet[Session]:
        return sessions_for(self.request)


DAY_PARAMETERS = [
    OpenApiParameter("product", OpenApiTypes.INT, description="Sessions of this product (its id)."),
    OpenApiParameter("tutor", OpenApiTypes.INT, description="Sessions of this tutor (the tutor's id)."),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="First day (local; default today)."),
    OpenApiParameter(
        "date_to",
        OpenApiTypes.DATE,
        description=f"Last day (default: {CALENDAR_DEFAULT_DAYS} days from date_from; at most {CALENDAR_MAX_DAYS}).",
    ),
    OpenApiParameter("available", OpenApiTypes.BOOL, description="true: only sessions with a seat left."),
]


class SessionsByDateView(generics.GenericAPIView):
    """The same sessions as sessions/, grouped by local day, for a calendar picker; not paginated,
    so the range is bounded."""

    serializer_class = SessionCalendarSerializer

    @extend_schema(
        tags=["catalog"],
        summary="Sessions you can book, by day (a calendar picker)",
        parameters=DAY_PARAMETERS,
        responses={200: SessionCalendarSerializer, 400: error("A filter that does not parse, or a range too long.")},
    )
    def get(self, request: Request) -> Response:
        filterset = SessionFilter(request.query_params, queryset=sessions_for(request), request=request)
        if not filterset.is_valid():
            raise serializers.ValidationError(filterset.errors)
        first = filterset.form.cleaned_data.get("date_from") or timezone.localdate()
        last = filterset.form.cleaned_data.get("date_to") or first + timedelta(days=CALENDAR_DEFAULT_DAYS - 1)
        if last < first:
            raise serializers.ValidationError({"date_to": ["date_to is before date_from."]})
        if (last - first).days >= CALENDAR_MAX_DAYS:
            raise serializers.ValidationError({"date_to": [f"At most {CALENDAR_MAX_DAYS} days at a time."]})
        sessions = filterset.qs.filter(
            starts_at__gte=local_midnight(first), starts_at__lt=local_midnight(last + timedelta(days=1))
        )
        days = [
            {"date": day, "sessions": list(group)}
            for day, group in groupby(sessions, key=lambda s: timezone.localtime(s.starts_at).date())
        ]
        return Response(SessionCalendarSerializer({"date_from": first, "date_to": last, "days": days}).data)
