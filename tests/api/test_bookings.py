"""A student's bookings through the API: list, book, detail, cancel, reschedule, history, pay."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingEvent, BookingSource, BookingStatus, CancelReason, SessionStatus
from tests.api.conftest import API, assert_error, client_for
from tests.factories import ProductFactory, SessionFactory, StudentFactory, TutorFactory, booking_in

pytestmark = pytest.mark.django_db

BOOKING_FIELDS = {
    "reference",
    "status",
    "payment_status",
    "payment_method",
    "price",
    "currency",
    "expires_at",
    "hours_left",
    "minutes_left",
    "is_expired",
    "has_result",
    "created_at",
    "session",
}
SESSION_FIELDS = {"id", "product", "session_date", "session_time", "starts_at", "ends_at", "tutor", "room"}


@pytest.fixture
def links(settings):
    settings.CLICK_SERVICE_ID, settings.CLICK_MERCHANT_ID = "101", "202"
    settings.PAYME_MERCHANT_ID = "payme-merchant"


def references(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["reference"] for row in response.json()["results"]]


# --- The list -----------------------------------------------------------------------------------


def test_it_lists_the_students_own_bookings_with_every_field(student, student_api):
    tutor = TutorFactory(user__first_name="Aziza", user__last_name="Karimova")
    session = SessionFactory(tutor=tutor, room="Room 7")
    booking = services.book(session=session, student=student, payment_method="payme")
    services.book(session=SessionFactory(), student=StudentFactory())  # someone else's

    response = student_api.get(API + "bookings/")

    assert response.json()["count"] == 1
    (row,) = response.json()["results"]
    assert set(row) == BOOKING_FIELDS
    assert set(row["session"]) == SESSION_FIELDS
    local = timezone.localtime(session.starts_at)
    assert row["reference"] == booking.reference
    assert (row["status"], row["payment_status"], row["payment_method"]) == ("pending", "pending", "payme")
    assert (row["price"], row["currency"]) == ("350000.00", "UZS")
    assert (row["hours_left"], row["minutes_left"], row["is_expired"], row["has_result"]) == (23, 59, False, False)
    assert row["session"]["product"] == {
        "id": session.product_id,
        "code": session.product.code,
        "name": session.product.name,
    }
    assert row["session"]["session_date"] == local.date().isoformat()
    assert row["session"]["session_time"] == f"{local:%H:%M}"
    assert row["session"]["tutor"] == {"id": tutor.pk, "name": "Aziza Karimova"}
    assert row["session"]["room"] == "Room 7"


def test_future_lists_bookings_whose_session_has_not_started_and_that_hold_their_seat(student, student_api):
    soon = SessionFactory(starts_at=timezone.now() + timedelta(days=1))
    later = SessionFactory(starts_at=timezone.now() + timedelta(days=5))
    pending = services.book(session=later, student=student)
    confirmed = booking_in(BookingStatus.CONFIRMED, session=soon, student=student)
    booking_in(BookingStatus.CANCELLED, student=student)

    assert references(student_api.get(API + "bookings/?type=future")) == [confirmed.reference, pending.reference]


def test_past_lists_bookings_whose_session_is_over_and_that_were_paid(student):
    session = SessionFactory()
    paid = services.book(session=session, student=student)
    services.record_payment(paid, provider="cash", amount=paid.price)
    unpaid_but_confirmed = booking_in(BookingStatus.CONFIRMED, session=SessionFactory(), student=student)
    upcoming = services.book(session=SessionFactory(starts_at=timezone.now() + timedelta(days=30)), student=student)
    services.record_payment(upcoming, provider="cash", amount=upcoming.price)

    with time_machine.travel(session.ends_at + timedelta(days=2), tick=False):
        response = client_for(student).get(API + "bookings/?type=past")

    assert references(response) == [paid.reference]
    assert unpaid_but_confirmed.reference not in references(response)


@pytest.mark.parametrize("status", ["pending", "paid", "cancelled"])
def test_status_filters_on_the_payment_status(student, student_api, status):
    pending = services.book(session=SessionFactory(), student=student)
    paid = services.book(session=SessionFactory(), student=student)
    services.record_payment(paid, provider="click", amount=paid.price)
    free = services.book(session=SessionFactory(product=ProductFactory(price=0)), student=student)
    cancelled = booking_in(BookingStatus.CANCELLED, student=student)
    expected = {
        "pending": [pending.reference],
        "paid": [free.reference, paid.reference],
        "cancelled": [cancelled.reference],
    }[status]

    rows = student_api.get(API + f"bookings/?status={status}").json()["results"]

    assert sorted(row["reference"] for row in rows) == sorted(expected)
    assert {row["payment_status"] for row in rows} == {status}


def test_a_confirmed_booking_that_still_owes_money_is_pending_payment(student, student_api):
    booking = booking_in(BookingStatus.CONFIRMED, student=student)

    (row,) = student_api.get(API + "bookings/").json()["results"]

    assert (row["reference"], row["status"], row["payment_status"]) == (booking.reference, "confirmed", "pending")


def test_a_pending_booking_past_its_deadline_is_not_listed_and_not_changed(student):
    lapsed = services.book(session=SessionFactory(starts_at=timezone.now() + timedelta(days=3)), student=student)
    events = BookingEvent.objects.count()

    with time_machine.travel(lapsed.expires_at + timedelta(minutes=1), tick=False):
        client = client_for(student)
        listed = client.get(API + "bookings/")
        detail = client.get(API + f"bookings/{lapsed.reference}/")

    assert listed.json()["count"] == 0
    assert detail.status_code == 200 and detail.json()["is_expired"] is True
    lapsed.refresh_from_db()
    assert lapsed.status == BookingStatus.PENDING
    assert BookingEvent.objects.count() == events


@pytest.mark.parametrize("query", ["type=soon", "status=confirmed", "status=PAID", "type=", "status="])
def test_a_filter_that_does_not_parse_is_a_400(student_api, query):
    body = assert_error(student_api.get(API + f"bookings/?{query}"), 400, "invalid")

    assert set(body["fields"]) == {query.split("=")[0]}
    # The verdict is kept per parameters (api.views.bookings._filters): the same answer again.
    assert assert_error(student_api.get(API + f"bookings/?{query}"), 400, "invalid") == body
    assert student_api.get(API + f"bookings/?{query}&page_size=5").status_code == 400
    assert student_api.get(API + "bookings/?type=future&status=pending").status_code == 200


@pytest.mark.parametrize("query", ["page=0", "page=abc", "page=99"])
def test_a_page_that_does_not_exist_is_a_404(student_api, query):
    assert_error(student_api.get(API + f"bookings/?{query}"), 404, "not_found")


def test_the_list_pages_with_a_count_in_a_stable_order(student, student_api):
    now = timezone.now()
    with time_machine.travel(now, tick=False):  # every booking made at the same instant
        made = [services.book(session=SessionFactory(), student=student) for _ in range(5)]

    first = student_api.get(API + "bookings/?page_size=2").json()
    second = student_api.get(API + "bookings/?page_size=2&page=2").json()
    third = student_api.get(API + "bookings/?page_size=2&page=3").json()

    assert first["count"] == 5
    seen = [row["reference"] for page in (first, second, third) for row in page["results"]]
    assert seen == [b.reference for b in sorted(made, key=lambda b: b.pk, reverse=True)]


# --- Booking ------------------------------------------------------------------------------------


def test_it_books_through_the_services_and_answers_201_with_the_payment_links(student, student_api, links):
    session = SessionFactory(capacity=5)

    response = student_api.post(API + "bookings/", {"session": session.pk, "payment_method": "click"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == BOOKING_FIELDS | {"payment_links"}
    booking = Booking.objects.get(reference=body["reference"])
    assert (booking.student, booking.source, booking.created_by) == (student, BookingSource.API, student)
    assert body["status"] == "pending" and body["payment_method"] == "click"
    assert set(body["payment_links"]) == {"click", "payme"}
    assert f"transaction_param={booking.reference}" in body["payment_links"]["click"]
    session.refresh_from_db()
    assert session.seats_taken == 1
    assert BookingEvent.objects.get(booking=booking, action="booking.created").actor == student


def test_a_free_session_is_confirmed_at_once_and_has_nothing_to_pay(student_api, links):
    session = SessionFactory(product=ProductFactory(price=0))

    body = student_api.post(API + "bookings/", {"session": session.pk}, format="json").json()

    assert (body["status"], body["payment_status"], body["payment_method"]) == ("confirmed", "paid", "cash")
    assert body["payment_links"] == {}


def test_a_full_session_is_a_409(student_api):
    session = SessionFactory(capacity=1)
    services.book(session=session, student=StudentFactory())

    body = assert_error(
        student_api.post(API + "bookings/", {"session": session.pk}, format="json"), 409, "session_full"
    )

    assert "full" in body["detail"]


def test_booking_twice_is_a_409(student, student_api):
    session = SessionFactory(capacity=5)
    services.book(session=session, student=student)

    assert_error(student_api.post(API + "bookings/", {"session": session.pk}, format="json"), 409, "already_booked")


@pytest.mark.parametrize("state", ["closed", "cancelled", "too_soon"])
def test_a_session_that_cannot_be_booked_is_a_422(student_api, state):
    if state == "too_soon":
        session = SessionFactory(tutor=TutorFactory(min_notice_hours=24), starts_at=timezone.now() + timedelta(hours=3))
    else:
        session = SessionFactory(status=SessionStatus.CLOSED if state == "closed" else SessionStatus.CANCELLED)

    body = assert_error(
        student_api.post(API + "bookings/", {"session": session.pk}, format="json"), 422, "booking_not_allowed"
    )

    assert body["detail"]
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "session"),
        ({"session": 999999}, "session"),
        ({"session": "x"}, "session"),
        ({"session": 2**70}, "session"),
        ({"session": None}, "session"),
        ({"session": 1, "payment_method": "bitcoin"}, "payment_method"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(student_api, body, field):
    SessionFactory()

    response = assert_error(student_api.post(API + "bookings/", body, format="json"), 400, "invalid")

    assert field in response["fields"]
    assert not Booking.objects.exists()


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b'"text"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_400(student_api, raw):
    response = student_api.generic("POST", API + "bookings/", raw, content_type="application/json")

    assert_error(response, 400, "invalid")


def test_a_form_body_is_a_415(student_api):
    response = student_api.post(API + "bookings/", {"session": 1}, format="multipart")

    assert_error(response, 415, "unsupported_media_type")


# --- One booking ----------------------------------------------------------------------------------


def test_the_detail_carries_the_payment_links(student, student_api, links):
    booking = services.book(session=SessionFactory(), student=student)

    body = student_api.get(API + f"bookings/{booking.reference}/").json()

    assert body["reference"] == booking.reference
    assert set(body["payment_links"]) == {"click", "payme"}


@pytest.mark.parametrize("action", ["", "history/", "pay/"])
def test_another_students_booking_is_a_404(other_student, student_api, action):
    theirs = services.book(session=SessionFactory(), student=other_student)

    assert_error(student_api.get(API + f"bookings/{theirs.reference}/{action}"), 404, "not_found")


@pytest.mark.parametrize("action", ["cancel/", "reschedule/"])
def test_another_students_booking_cannot_be_changed(other_student, student_api, action):
    theirs = services.book(session=SessionFactory(capacity=5), student=other_student)
    target = SessionFactory(product=theirs.session.product)

    assert_error(
        student_api.post(API + f"bookings/{theirs.reference}/{action}", {"session": target.pk}, format="json"),
        404,
        "not_found",
    )
    theirs.refresh_from_db()
    assert theirs.status == BookingStatus.PENDING


def test_cancel_answers_200_with_the_booking_and_keeps_the_reason_as_a_note(student, student_api):
    booking = services.book(session=SessionFactory(starts_at=timezone.now() + timedelta(days=5)), student=student)

    response = student_api.post(API + f"bookings/{booking.reference}/cancel/", {"reason": "I am ill"}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["payment_status"]) == ("cancelled", "cancelled")
    booking.refresh_from_db()
    assert booking.cancel_reason == CancelReason.STUDENT
    event = BookingEvent.objects.get(booking=booking, action="booking.cancelled")
    assert (event.actor, event.data["note"]) == (student, "I am ill")


def test_cancel_needs_no_reason(student, student_api):
    booking = services.book(session=SessionFactory(starts_at=timezone.now() + timedelta(days=5)), student=student)

    assert student_api.post(API + f"bookings/{booking.reference}/cancel/", format="json").status_code == 200


def test_cancel_after_the_free_cancellation_cut_off_says_when_it_ended(student, student_api):
    tutor = TutorFactory(cancellation_policy="strict", min_notice_hours=1)
    booking = services.book(
        session=SessionFactory(tutor=tutor, starts_at=timezone.now() + timedelta(days=2)), student=student
    )

    body = assert_error(
        student_api.post(API + f"bookings/{booking.reference}/cancel/", format="json"), 422, "booking_not_allowed"
    )

    assert "strict" in body["detail"] and "ended at" in body["detail"]
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING


def test_cancelling_twice_is_a_422(student, student_api):
    booking = booking_in(BookingStatus.CANCELLED, student=student)

    assert_error(
        student_api.post(API + f"bookings/{booking.reference}/cancel/", format="json"), 422, "invalid_transition"
    )


def test_reschedule_moves_the_booking_and_answers_the_new_one(student, student_api):
    booking = services.book(session=SessionFactory(), student=student)
    target = SessionFactory(product=booking.session.product, starts_at=timezone.now() + timedelta(days=6))

    response = student_api.post(
        API + f"bookings/{booking.reference}/reschedule/", {"session": target.pk}, format="json"
    )

    assert response.status_code == 200, response.json()
    new = Booking.objects.get(reference=response.json()["reference"])
    assert new.session == target and new.rescheduled_from_id == booking.pk
    assert response.json()["session"]["id"] == target.pk
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.RESCHEDULED)


def test_reschedule_to_another_product_is_a_422(student, student_api):
    booking = services.book(session=SessionFactory(), student=student)

    assert_error(
        student_api.post(
            API + f"bookings/{booking.reference}/reschedule/", {"session": SessionFactory().pk}, format="json"
        ),
        422,
        "booking_not_allowed",
    )


def test_reschedule_to_a_full_session_is_a_409_and_changes_nothing(student, student_api):
    booking = services.book(session=SessionFactory(), student=student)
    full = SessionFactory(product=booking.session.product, capacity=1)
    services.book(session=full, student=StudentFactory())

    assert_error(
        student_api.post(API + f"bookings/{booking.reference}/reschedule/", {"session": full.pk}, format="json"),
        409,
        "session_full",
    )
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING


def test_history_lists_what_happened_oldest_first(student, student_api, operator):
    booking = services.book(session=SessionFactory(), student=student, actor=student)
    services.confirm(booking, actor=operator)
    services.cancel(booking, reason=CancelReason.STAFF, actor=operator)

    rows = student_api.get(API + f"bookings/{booking.reference}/history/").json()["results"]

    assert [(r["action"], r["by"], r["reason"]) for r in rows] == [
        ("booking.created", "you", ""),
        ("booking.confirmed", "staff", ""),
        ("booking.cancelled", "staff", "staff"),
    ]


def test_pay_says_what_is_owed_and_links_to_pay_it(student, student_api, links):
    booking = services.book(session=SessionFactory(), student=student)
    services.record_payment(booking, provider="cash", amount=Decimal("100000"))

    body = student_api.get(API + f"bookings/{booking.reference}/pay/").json()

    assert (body["reference"], body["amount_owed"], body["currency"]) == (booking.reference, "250000.00", "UZS")
    assert "amount=250000.00" in body["links"]["click"]


def test_pay_has_no_links_once_paid(student, student_api, links):
    booking = services.book(session=SessionFactory(), student=student)
    services.record_payment(booking, provider="cash", amount=booking.price)

    body = student_api.get(API + f"bookings/{booking.reference}/pay/").json()

    assert (body["amount_owed"], body["links"]) == ("0.00", {})


def test_no_get_writes_anything(student, student_api, links):
    booking = services.book(session=SessionFactory(), student=student)
    Booking.objects.filter(pk=booking.pk).update(expires_at=timezone.now() - timedelta(minutes=5))  # lapsed
    paths = ["bookings/", "bookings/?type=future", "bookings/?type=past", "sessions/", "sessions/by-date/"]
    paths += [f"bookings/{booking.reference}/{tail}" for tail in ("", "history/", "pay/")]
    paths += ["me/", "products/"]

    with CaptureQueriesContext(connection) as captured:
        for path in paths:
            assert student_api.get(API + path).status_code == 200, path

    statements = [q["sql"].lstrip().split()[0].upper() for q in captured.captured_queries]
    assert set(statements) == {"SELECT"}, statements
