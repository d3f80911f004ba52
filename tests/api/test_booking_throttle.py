"""Booking changes are throttled per user (``booking_change``: book, cancel, reschedule, pay links),
in the shared cache, answered 429 ``throttled`` with ``Retry-After`` in the API's error shape."""

from __future__ import annotations

import pytest
from django.conf import settings

from bookings.models import Booking
from tests.api.conftest import API, assert_error
from tests.factories import SessionFactory

pytestmark = pytest.mark.django_db


def limit() -> int:
    return int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["booking_change"].split("/")[0])


def test_booking_changes_past_the_rate_are_429_with_retry_after(student, student_api, other_student, as_user):
    session = SessionFactory(capacity=5)
    made = student_api.post(API + "bookings/", {"session": session.pk})
    assert made.status_code == 201
    reference = made.json()["reference"]
    # Each kind of change counts against the same budget (a refusal or a 404 as much as a success).
    student_api.get(API + f"bookings/{reference}/pay/")
    student_api.post(API + "bookings/NOPE123/reschedule/", {"session": session.pk})
    for _ in range(limit() - 3):
        student_api.post(API + "bookings/NOPE123/cancel/", {})

    refused = student_api.post(API + "bookings/", {"session": SessionFactory(capacity=5).pk})

    body = assert_error(refused, 429, "throttled")
    assert body["fields"] == {}
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert Booking.objects.filter(student=student).count() == 1  # the throttled one booked nothing
    assert_error(student_api.post(API + f"bookings/{reference}/cancel/", {}), 429, "throttled")
    # Reading is not a change: the list still answers. Another student has their own budget.
    assert student_api.get(API + "bookings/").status_code == 200
    assert as_user(other_student).post(API + "bookings/", {"session": session.pk}).status_code == 201


def test_reading_bookings_is_not_counted(student_api):
    for _ in range(limit() + 1):
        assert student_api.get(API + "bookings/").status_code == 200

    assert student_api.post(API + "bookings/", {"session": SessionFactory(capacity=5).pk}).status_code == 201


def test_the_schema_documents_429_on_the_changes_and_not_on_the_list(anonymous):
    schema = anonymous.get(API + "schema/?format=json").json()
    bookings = schema["paths"]["/api/v1/bookings/"]

    assert "429" in bookings["post"]["responses"] and "429" not in bookings["get"]["responses"]
    assert "Retry-After" in bookings["post"]["responses"]["429"]["headers"]
    for path in ("cancel", "reschedule", "pay"):
        operation = schema["paths"][f"/api/v1/bookings/{{reference}}/{path}/"]
        assert "429" in (operation.get("post") or operation["get"])["responses"]
