"""tutor/bookings/ and tutor/statistics/: the bookings in a tutor's sessions, confirm, complete and
no-show (only after the start) through bookings.services, and this month's figures."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from bookings import services
from bookings.models import BookingStatus
from tests.api.conftest import API, assert_error, client_for
from tests.factories import FeedbackRequestFactory, SessionFactory, StudentFactory, TutorFactory, booking_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def tutor():
    return TutorFactory()


@pytest.fixture
def api(tutor):
    return client_for(tutor.user)


def test_it_lists_every_status_unless_one_is_asked(tutor, api):
    session = SessionFactory(tutor=tutor, capacity=5)
    pending = booking_in(BookingStatus.PENDING, session=session)
    cancelled = booking_in(BookingStatus.CANCELLED, session=session)
    booking_in(BookingStatus.PENDING, session=SessionFactory(tutor=TutorFactory()))

    every = api.get(API + "tutor/bookings/").json()
    only = api.get(API + "tutor/bookings/?status=cancelled").json()

    assert {b["reference"] for b in every["results"]} == {pending.reference, cancelled.reference}
    assert [b["reference"] for b in only["results"]] == [cancelled.reference]
    assert every["results"][0]["student"]["id"] in (pending.student_id, cancelled.student_id)


def test_an_unknown_status_is_a_400(api):
    assert_error(api.get(API + "tutor/bookings/?status=lost"), 400, "invalid")


def test_it_confirms_a_pending_booking(tutor, api):
    booking = booking_in(BookingStatus.PENDING, session=SessionFactory(tutor=tutor))

    response = api.post(API + f"tutor/bookings/{booking.reference}/confirm/")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == BookingStatus.CONFIRMED
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.events.filter(action="booking.confirmed", actor=tutor.user).exists()


def test_complete_and_no_show_are_refused_before_the_start(tutor, api):
    booking = booking_in(BookingStatus.CONFIRMED, session=SessionFactory(tutor=tutor))

    assert_error(api.post(API + f"tutor/bookings/{booking.reference}/complete/"), 422, "booking_not_allowed")
    assert_error(api.post(API + f"tutor/bookings/{booking.reference}/no-show/"), 422, "booking_not_allowed")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


@pytest.mark.parametrize(("action", "status"), [("complete", "completed"), ("no-show", "no_show")])
def test_after_the_start_it_completes_or_marks_a_no_show(tutor, action, status):
    session = SessionFactory(tutor=tutor)
    booking = booking_in(BookingStatus.CONFIRMED, session=session)

    with time_machine.travel(session.starts_at + timedelta(minutes=5), tick=False):
        response = client_for(tutor.user).post(API + f"tutor/bookings/{booking.reference}/{action}/")

    assert response.status_code == 200, response.json()
    booking.refresh_from_db()
    assert booking.status == status


def test_confirming_a_cancelled_booking_is_a_refused_transition(tutor, api):
    booking = booking_in(BookingStatus.CANCELLED, session=SessionFactory(tutor=tutor))

    assert_error(api.post(API + f"tutor/bookings/{booking.reference}/confirm/"), 422, "invalid_transition")


def test_statistics_count_this_months_sessions_and_bookings(tutor):
    now = timezone.localtime(timezone.now(), tutor.tzinfo)
    # Mid-month, so the sessions a few days ahead are in the same month.
    mid = now.replace(day=10, hour=12, minute=0, second=0, microsecond=0)
    with time_machine.travel(mid - timedelta(days=5), tick=False):
        first = SessionFactory(tutor=tutor, capacity=4, starts_at=mid)
        second = SessionFactory(tutor=tutor, capacity=4, starts_at=mid + timedelta(days=1))
        services.cancel_session(SessionFactory(tutor=tutor, capacity=4, starts_at=mid + timedelta(days=2)))
        done = booking_in(BookingStatus.COMPLETED, session=first)
        booking_in(BookingStatus.NO_SHOW, session=first)
        booking_in(BookingStatus.CONFIRMED, session=second)
        booking_in(BookingStatus.CANCELLED, session=second, student=done.student)
    FeedbackRequestFactory(tutor=tutor, completed=True, score=Decimal("6.5"))
    FeedbackRequestFactory(tutor=tutor, completed=True, score=Decimal("7.0"))
    FeedbackRequestFactory(tutor=TutorFactory(), completed=True, score=Decimal("2.0"), student=StudentFactory())

    with time_machine.travel(mid + timedelta(days=3), tick=False):
        body = client_for(tutor.user).get(API + "tutor/statistics/").json()

    assert body == {
        "month": f"{mid:%Y-%m}",
        "sessions_this_month": 2,
        "bookings_this_month": 3,
        "fill_rate": "37.5",
        "no_show_rate": "50.0",
        "average_feedback_score": "6.8",
    }


def test_statistics_without_anything_are_zero(api):
    body = api.get(API + "tutor/statistics/").json()

    assert body["sessions_this_month"] == 0
    assert (body["fill_rate"], body["no_show_rate"], body["average_feedback_score"]) == ("0.0", "0.0", None)
