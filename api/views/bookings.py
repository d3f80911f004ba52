"""A student's bookings: list, book, and per booking its detail, cancel, reschedule, history, pay.

Every booking is looked up through the student's own (``scope``): another person's reference is a
404. Every change goes through ``bookings.services``; their refusals become 409/422 (api.errors).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db.models import Count, QuerySet, Window
from django.forms.utils import ErrorDict
from django.http import QueryDict
from django.utils import timezone
from django_filters.utils import translate_validation
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from api import idempotency
from api.filters import BookingFilter
from api.pagination import WindowCountPagination
from api.permissions import IsStudent
from api.schema import error
from api.serializers.bookings import (
    BookingCreateSerializer,
    BookingDetailSerializer,
    BookingEventSerializer,
    BookingPaymentSerializer,
    BookingRows,
    BookingSerializer,
    CancelSerializer,
    RescheduleSerializer,
)
from api.throttles import BookingChangeThrottle
from bookings import services
from bookings.models import Booking, BookingEvent, BookingSource, CancelReason
from bookings.payments.links import payment_links
from bookings.selectors import amount_owed, student_bookings, with_student_payment_status
from bookings.selectors.compiled import CompiledRead, Instances

TAGS = ["bookings"]
FULL_OR_BOOKED = error("`session_full`: no seat left; `already_booked`: you hold a seat in it already.")
REFUSED = error("`booking_not_allowed` or `invalid_transition`: the booking rules refuse it; `detail` says why.")
KEY_REUSED = error("`idempotency_key_reused`: this Idempotency-Key was sent with another request.")
IN_FLIGHT = "`idempotency_in_flight`: a request with this Idempotency-Key is still running."


def scope(request: Request) -> QuerySet[Booking]:
    """Every booking of the signed-in student (pending ones past their deadline too), for one lookup."""
    return with_student_payment_status(Booking.objects.filter(student=request.user)).select_related(
        "session__product", "session__tutor__user"
    )


def detail(request: Request, reference: str) -> Booking:
    return get_object_or_404(scope(request), reference=reference)


class StudentView(generics.GenericAPIView):
    permission_classes = [IsStudent]


@extend_schema_view(
    get=extend_schema(
        tags=TAGS,
        summary="Your bookings",
        description=(
            "Newest first (or as `type` orders them). A pending booking past its `expires_at` is not listed: "
            "it is about to be cancelled by the expiry sweep. Reading never changes a booking."
        ),
    ),
)
class BookingListView(StudentView, generics.ListAPIView):
    serializer_class = BookingSerializer
    throttle_classes = [BookingChangeThrottle]  # the POST (book); the list is not counted
    pagination_class = WindowCountPagination  # the count with the page: one query fewer
    filterset_class = BookingFilter
    queryset = Booking.objects.none()  # for the schema; get_queryset() is the student's own

    def get_queryset(self) -> QuerySet[Booking]:
        return booking_list(self.request.user.pk, timezone.now(), {})

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        chosen, errors = _filters(tuple((name, request.query_params.get(name)) for name in BookingFilter.base_filters))
        if errors:
            raise translate_validation(errors)
        # The page is read by its compiled query (BookingPages); BookingSerializer's rows built directly
        # (api.serializers.bookings.BookingRows).
        page = self.paginate_queryset(BookingPages(request.user.pk, timezone.now(), chosen))
        return self.get_paginated_response(BookingRows()(page))

    @extend_schema(
        tags=TAGS,
        summary="Book a seat",
        request=BookingCreateSerializer,
        parameters=[idempotency.PARAMETER],
        responses={
            201: BookingDetailSerializer,
            409: error(f"{FULL_OR_BOOKED.description} {IN_FLIGHT}"),
            422: error(f"{REFUSED.description} {KEY_REUSED.description}"),
        },
        description=(
            "Holds a seat: pending until paid (pay with `payment_links`, or at the desk) and cancelled "
            "after the product's payment window; a free product or an auto-confirming tutor confirms at once."
        ),
    )
    @idempotency.idempotent
    def post(self, request: Request) -> Response:
        serializer = BookingCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        booking = services.book(
            session=serializer.validated_data["session"],
            student=request.user,
            payment_method=serializer.validated_data["payment_method"],
            actor=request.user,
            source=BookingSource.API,
        )
        booking = detail(request, booking.reference)
        return Response(BookingDetailSerializer(booking).data, status=status.HTTP_201_CREATED)


@lru_cache(maxsize=256)
def _filters(given: tuple[tuple[str, str | None], ...]) -> tuple[tuple[tuple[str, str], ...], ErrorDict | None]:
    """``BookingFilter``'s verdict on the list's filter parameters as given (None: absent): the
    chosen ones, or its errors (a 400). The same few combinations every time: judged once each."""
    data = QueryDict(mutable=True)
    for name, value in given:
        if value is not None:
            data[name] = value
    filterset = BookingFilter(data, queryset=Booking.objects.none())
    if not filterset.is_valid():
        return (), filterset.errors
    return tuple(sorted((name, value) for name, value in filterset.form.cleaned_data.items() if value)), None


def booking_list(student_id: int, now: datetime, chosen: dict[str, str]) -> QuerySet[Booking]:
    """The student's list (``student_bookings``) as ``BookingFilter`` filters and orders it for
    ``chosen`` (its valid query parameters), at ``now``; newest first without ``type``."""
    queryset = (
        student_bookings(student_id, now=now)
        .select_related("session__product", "session__tutor__user")
        .only(*BookingRows.READS)
        .order_by("-created_at", "-id")
    )
    if not chosen:
        return queryset
    filterset = BookingFilter(chosen, queryset=queryset)
    filterset.now = now
    return filterset.qs


# A list page's rows as BookingRows reads them, with the paid amount (payment_status) and the count.
LOAD = Instances(Booking, BookingRows.READS, extra=("paid_amount", "page_total"))


@lru_cache(maxsize=256)
def _page_read(chosen: tuple[tuple[str, str], ...], bottom: int, size: int) -> CompiledRead:
    """One kind of page (filters, page size, page number), compiled once: a student's list page cost
    the ORM 3 ms to build and compile, more than PostgreSQL spent answering it (bench/api.py)."""

    def build(student_id: int, now: datetime) -> QuerySet[Booking]:
        page = booking_list(student_id, now, dict(chosen)).annotate(page_total=Window(Count("*")))
        return page.values(*LOAD.columns)[bottom : bottom + size]

    return CompiledRead(build, int, datetime)


class BookingPages:
    """What the list's paginator (``WindowCountPaginator``) pages through: ``booking_list``, each page
    read by its compiled query."""

    def __init__(self, student_id: int, now: datetime, chosen: tuple[tuple[str, str], ...]) -> None:
        self.student_id, self.now, self.chosen = student_id, now, chosen

    def count(self) -> int:
        return booking_list(self.student_id, self.now, dict(self.chosen)).count()

    def page_rows(self, bottom: int, size: int) -> list[Booking]:
        return LOAD(_page_read(self.chosen, bottom, size)(self.student_id, self.now))


@extend_schema_view(get=extend_schema(tags=TAGS, summary="One of your bookings, with its payment links"))
class BookingDetailView(StudentView, generics.RetrieveAPIView):
    serializer_class = BookingDetailSerializer

    def get_object(self) -> Booking:
        return detail(self.request, self.kwargs["reference"])


class BookingCancelView(StudentView):
    throttle_classes = [BookingChangeThrottle]
    serializer_class = CancelSerializer

    @extend_schema(
        tags=TAGS,
        summary="Cancel your booking",
        request=CancelSerializer,
        parameters=[idempotency.PARAMETER],
        responses={
            200: BookingDetailSerializer,
            409: error(IN_FLIGHT),
            422: error(
                "Refused: already cancelled or finished (`invalid_transition`), or past the free-cancellation "
                f"cut-off of the cancellation policy (`booking_not_allowed`; `detail` gives the time). "
                f"{KEY_REUSED.description}"
            ),
        },
    )
    @idempotency.idempotent
    def post(self, request: Request, reference: str) -> Response:
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        booking = detail(request, reference)
        services.cancel(
            booking,
            reason=CancelReason.STUDENT,
            actor=request.user,
            note=serializer.validated_data.get("reason", ""),
        )
        return Response(BookingDetailSerializer(detail(request, reference)).data)


class BookingRescheduleView(StudentView):
    throttle_classes = [BookingChangeThrottle]
    serializer_class = RescheduleSerializer

    @extend_schema(
        tags=TAGS,
        summary="Move your booking to another session of the same product",
        request=RescheduleSerializer,
        parameters=[idempotency.PARAMETER],
        responses={
            200: BookingDetailSerializer,
            409: error(f"{FULL_OR_BOOKED.description} {IN_FLIGHT}"),
            422: error(f"{REFUSED.description} {KEY_REUSED.description}"),
        },
        description=(
            "In one step: this booking is cancelled (reason rescheduled) and the answer is the new booking, "
            "which keeps the status, price, payments and payment deadline. If the target has no seat, nothing changes."
        ),
    )
    @idempotency.idempotent
    def post(self, request: Request, reference: str) -> Response:
        serializer = RescheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        booking = detail(request, reference)
        new = services.reschedule(booking, to_session=serializer.validated_data["session"], actor=request.user)
        return Response(BookingDetailSerializer(detail(request, new.reference)).data)


@extend_schema_view(get=extend_schema(tags=TAGS, summary="What happened to your booking, oldest first"))
class BookingHistoryView(StudentView, generics.ListAPIView):
    serializer_class = BookingEventSerializer
    queryset = BookingEvent.objects.none()  # for the schema

    def get_queryset(self) -> QuerySet[BookingEvent]:
        booking = get_object_or_404(
            Booking.objects.filter(student=self.request.user), reference=self.kwargs["reference"]
        )
        return BookingEvent.objects.filter(booking=booking).order_by("created_at", "id")


class BookingPayView(StudentView):
    throttle_classes = [BookingChangeThrottle]
    throttle_reads = True  # asking for the links is the first step of paying
    serializer_class = BookingPaymentSerializer

    @extend_schema(tags=TAGS, summary="What your booking still owes, and the links to pay it online")
    def get(self, request: Request, reference: str) -> Response:
        booking = detail(request, reference)
        body = {
            "reference": booking.reference,
            "amount_owed": amount_owed(booking, paid=booking.paid_amount),
            "currency": booking.currency,
            "links": payment_links(booking),
        }
        return Response(BookingPaymentSerializer(body).data)
