"""A student's own booking events are stored as their notifications (GET notifications/): booked,
confirmed, cancelled, expired (by the sweep), reminded, result published -- as a tutor's are."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework_simplejwt.tokens import RefreshToken

from bookings import services
from bookings.models import CancelReason
from bookings.services.reminders import send_due_reminders
from realtime.models import Notification
from tests.api.conftest import API
from tests.factories import SessionFactory, StudentFactory, TutorFactory, confirmed_booking

pytestmark = pytest.mark.django_db
URL = API + "notifications/"


def types_of(body: dict) -> list[str]:
    return [n["type"] for n in body["results"]]


def test_a_students_booking_events_are_their_notifications(student, student_api):
    tutor = TutorFactory()
    lesson = SessionFactory(tutor=tutor, capacity=3)
    booking = services.book(session=lesson, student=student)
    services.confirm(booking)
    services.cancel(booking, reason=CancelReason.STAFF)
    unpaid = services.book(session=SessionFactory(capacity=3), student=student)  # a mock exam: no tutor
    services.expire_due(now=unpaid.expires_at)

    body = student_api.get(URL).json()

    assert types_of(body) == [
        "booking.expired",
        "booking.created",
        "booking.cancelled",
        "booking.confirmed",
        "booking.created",
    ]
    assert body["unread_count"] == 5
    expired = body["results"][0]
    assert expired["data"]["reference"] == unpaid.reference and expired["title"] == "Booking expired"
    assert unpaid.reference in expired["message"]
    # The tutor keeps theirs (of their own session only), as before.
    assert list(Notification.objects.filter(recipient=tutor.user).values_list("type", flat=True)) == [
        "booking.cancelled",
        "booking.confirmed",
        "booking.created",
    ]


def test_a_published_result_and_a_reminder_are_theirs_too(student, student_api):
    tutor = TutorFactory()
    session = SessionFactory(tutor=tutor, capacity=3)
    booking = confirmed_booking(session=session, student=student)
    with time_machine.travel(session.starts_at - timedelta(hours=1), tick=False):
        send_due_reminders()
    with time_machine.travel(session.starts_at + timedelta(minutes=5), tick=False):
        services.record_result(booking, scores={"listening": 7, "reading": 7, "writing": 6, "speaking": 6})

    reminders = student_api.get(URL + "?type=booking.reminder").json()
    results = student_api.get(URL + "?type=result.published&unread_only=true").json()

    assert reminders["count"] == 2  # the 24 h and 1 h reminders (the 15 m one is not due yet)
    assert {n["data"]["reference"] for n in reminders["results"]} == {booking.reference}
    (result,) = results["results"]
    assert result["data"]["overall"] == "6.5"
    assert Notification.objects.filter(recipient=tutor.user, type="booking.reminder").count() == 2

    read = student_api.post(URL + "read-all/")
    assert read.status_code == 200
    assert student_api.get(URL + "?unread_only=true").json()["count"] == 0


def test_the_sweep_stores_the_students_notifications_in_a_constant_number_of_queries():
    def queries_to_expire(count: int) -> int:
        students = [StudentFactory() for _ in range(count)]
        for student in students:  # they use the app: their bells keep what happens to their bookings
            RefreshToken.for_user(student)
        bookings = [services.book(session=SessionFactory(capacity=3), student=student) for student in students]
        deadline = max(b.expires_at for b in bookings)
        with CaptureQueriesContext(connection) as captured:
            assert services.expire_due(now=deadline) == count
        return len(captured)

    few = queries_to_expire(2)
    Notification.objects.all().delete()
    many = queries_to_expire(12)

    assert few == many
    expired = Notification.objects.filter(type="booking.expired")
    assert expired.count() == 12
    assert len(set(expired.values_list("recipient_id", flat=True))) == 12


def test_students_who_never_signed_in_to_the_app_get_no_stored_notifications():
    """They still hear their events live; a bell nobody can open is not filled (the sweep stays
    a set-based statement per batch: bench/expiry_sweep.py)."""
    booking = services.book(session=SessionFactory(capacity=3), student=StudentFactory())
    assert services.expire_due(now=booking.expires_at) == 1
    assert not Notification.objects.filter(recipient=booking.student).exists()
