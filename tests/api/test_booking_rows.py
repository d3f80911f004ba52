"""The student's list builds its rows directly (``BookingRows``): byte for byte what
``BookingSerializer(many=True)`` makes of the same bookings, for every kind of booking."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from api.serializers.bookings import BookingRows, BookingSerializer
from bookings import services
from bookings.models import Booking, BookingStatus, CancelReason
from bookings.selectors import with_student_payment_status
from tests.api.conftest import API
from tests.factories import LessonFactory, ProductFactory, SessionFactory, TutorFactory, booking_in

pytestmark = pytest.mark.django_db


def every_kind(student) -> None:
    tutor = TutorFactory(user__first_name="Aziza", user__last_name="Karimova")
    lesson = SessionFactory(product=LessonFactory(), tutor=tutor, room="")
    services.book(session=lesson, student=student)  # pending, owes the price
    services.book(session=SessionFactory(product=ProductFactory(price=0)), student=student)  # free: confirmed
    booking_in(BookingStatus.CONFIRMED, student=student)
    booking_in(BookingStatus.CANCELLED, student=student)
    booking_in(BookingStatus.COMPLETED, student=student)
    expired = services.book(session=SessionFactory(), student=student)
    with time_machine.travel(expired.expires_at, tick=False):
        services.cancel(expired, reason=CancelReason.EXPIRED)
    services.book(session=SessionFactory(starts_at=timezone.now() + timedelta(days=30)), student=student)


def test_the_rows_equal_the_serializers_output_for_every_kind_of_booking(student):
    every_kind(student)
    # A pending booking past its deadline (not listed by the API, but the rows must agree on it too).
    late = timezone.now() + timedelta(hours=30)
    bookings = with_student_payment_status(Booking.objects.filter(student=student)).select_related(
        "session__product", "session__tutor__user"
    )

    for now in (timezone.now(), late):
        with time_machine.travel(now, tick=False):
            loaded = list(bookings.order_by("pk"))
            assert len(loaded) == 7
            expected = json.dumps(BookingSerializer(loaded, many=True).data)
            assert json.dumps(BookingRows()(loaded)) == expected


def test_the_list_endpoint_answers_those_rows(student, student_api):
    every_kind(student)

    with time_machine.travel(timezone.now(), tick=False):
        body = student_api.get(API + "bookings/?page_size=100").json()
        listed = (
            with_student_payment_status(Booking.objects.filter(reference__in=[b["reference"] for b in body["results"]]))
            .select_related("session__product", "session__tutor__user")
            .order_by("-created_at", "-id")
        )
        assert body["results"] == json.loads(json.dumps(BookingSerializer(listed, many=True).data))
    assert body["count"] == 7
    assert {b["session"]["tutor"]["name"] for b in body["results"] if b["session"]["tutor"]} == {"Aziza Karimova"}
