"""Idempotency-Key on the POSTs that create or change bookings."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from api.models import IdempotencyKey, IdempotencyState
from bookings import services
from bookings.models import Booking, BookingStatus
from tests.api.conftest import API, assert_error, client_for
from tests.factories import SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db


def book(client, session_id, key, **body):
    return client.post(API + "bookings/", {"session": session_id, **body}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_get_the_first_answer_and_book_once(student, student_api):
    session = SessionFactory(capacity=5)

    first = book(student_api, session.pk, "key-1")
    again = book(student_api, session.pk, "key-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Booking.objects.filter(student=student).count() == 1
    session.refresh_from_db()
    assert session.seats_taken == 1


def test_a_refusal_is_replayed_too(student_api):
    session = SessionFactory(capacity=1)
    services.book(session=session, student=StudentFactory())

    first = book(student_api, session.pk, "key-full")
    again = book(student_api, session.pk, "key-full")

    assert_error(first, 409, "session_full")
    assert (again.status_code, again.json()) == (409, first.json())


def test_the_same_key_with_another_body_is_refused(student_api):
    one, other = SessionFactory(capacity=5), SessionFactory(capacity=5)
    book(student_api, one.pk, "key-2")

    body = assert_error(book(student_api, other.pk, "key-2"), 422, "idempotency_key_reused")

    assert "another request" in body["detail"]
    assert not Booking.objects.filter(session=other).exists()


def test_the_same_key_on_another_endpoint_is_refused(student, student_api):
    booking = services.book(session=SessionFactory(starts_at=timezone.now() + timedelta(days=5)), student=student)
    book(student_api, SessionFactory(capacity=5).pk, "key-3")

    response = student_api.post(
        API + f"bookings/{booking.reference}/cancel/", {}, format="json", HTTP_IDEMPOTENCY_KEY="key-3"
    )

    assert_error(response, 422, "idempotency_key_reused")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING


def test_a_request_still_in_flight_is_a_409(student, student_api):
    session = SessionFactory(capacity=5)
    first = book(student_api, session.pk, "key-4")
    # As if the first request were still running: its claim is in flight.
    IdempotencyKey.objects.filter(key="key-4").update(state=IdempotencyState.IN_FLIGHT, response=None)

    assert_error(book(student_api, session.pk, "key-4"), 409, "idempotency_in_flight")
    assert first.status_code == 201


def test_a_claim_abandoned_by_a_dead_process_is_taken_over(student_api):
    session = SessionFactory(capacity=5)
    first = book(student_api, session.pk, "key-5")
    services.cancel(Booking.objects.get(reference=first.json()["reference"]), reason="staff")
    # As if the process had died after claiming the key, ten minutes ago.
    IdempotencyKey.objects.filter(key="key-5").update(
        state=IdempotencyState.IN_FLIGHT, response=None, created_at=timezone.now() - timedelta(minutes=10)
    )

    response = book(student_api, session.pk, "key-5")

    assert response.status_code == 201
    assert response.json()["reference"] != first.json()["reference"]
    assert IdempotencyKey.objects.get(key="key-5").state == IdempotencyState.DONE


def test_keys_are_per_user(student_api, other_student):
    session = SessionFactory(capacity=5)

    book(student_api, session.pk, "shared-key")
    theirs = book(client_for(other_student), session.pk, "shared-key")

    assert theirs.status_code == 201
    assert Booking.objects.filter(session=session).count() == 2


def test_a_key_lapses_after_24_hours(student, student_api):
    session = SessionFactory(capacity=5, starts_at=timezone.now() + timedelta(days=5))
    first = book(student_api, session.pk, "key-6")
    services.cancel(Booking.objects.get(reference=first.json()["reference"]), reason="staff")

    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        again = book(client_for(student), session.pk, "key-6")

    assert again.status_code == 201
    assert again.json()["reference"] != first.json()["reference"]


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "tab\tkey"])
def test_a_malformed_key_is_a_400(student_api, key):
    session = SessionFactory(capacity=5)

    body = assert_error(book(student_api, session.pk, key), 400, "invalid")

    assert "Idempotency-Key" in body["fields"]
    assert not Booking.objects.exists()


def test_a_bad_body_is_remembered_like_any_answer(student_api):
    first = book(student_api, 987654, "key-7")

    assert_error(first, 400, "invalid")
    assert book(student_api, 987654, "key-7").json() == first.json()


def test_cancel_and_reschedule_take_a_key(student, student_api):
    booking = services.book(session=SessionFactory(starts_at=timezone.now() + timedelta(days=5)), student=student)
    target = SessionFactory(product=booking.session.product, starts_at=timezone.now() + timedelta(days=6))
    move = API + f"bookings/{booking.reference}/reschedule/"

    first = student_api.post(move, {"session": target.pk}, format="json", HTTP_IDEMPOTENCY_KEY="move-1")
    again = student_api.post(move, {"session": target.pk}, format="json", HTTP_IDEMPOTENCY_KEY="move-1")

    assert first.status_code == again.status_code == 200
    assert again.json()["reference"] == first.json()["reference"]
    assert Booking.objects.filter(student=student, status=BookingStatus.PENDING).count() == 1
