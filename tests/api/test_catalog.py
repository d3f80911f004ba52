"""Products and the sessions a student can book, as a list and by day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from bookings import services
from bookings.models import SessionStatus
from tests.api.conftest import API, assert_error
from tests.factories import ProductFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def at(day: date, hour: int) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


def test_products_lists_those_on_sale_by_name(student_api):
    b = ProductFactory(name="B mock")
    a = ProductFactory(name="A mock")
    ProductFactory(name="Old", is_active=False)

    rows = student_api.get(API + "products/").json()["results"]

    assert [r["id"] for r in rows] == [a.pk, b.pk]
    assert set(rows[0]) == {"id", "code", "name", "kind", "duration_minutes", "price", "currency", "scoring"}


def test_sessions_carry_their_seats(student_api):
    session = SessionFactory(capacity=5)
    services.book(session=session, student=StudentFactory())

    (row,) = student_api.get(API + "sessions/").json()["results"]

    assert (row["id"], row["capacity"], row["seats_taken"], row["seats_left"]) == (session.pk, 5, 1, 4)
    assert {"product", "tutor", "room", "starts_at", "ends_at", "session_date", "session_time", "status"} <= set(row)


def test_sessions_lists_only_what_the_student_can_book_soonest_first(student, student_api):
    now = timezone.now()
    later = SessionFactory(starts_at=now + timedelta(days=4))
    sooner = SessionFactory(starts_at=now + timedelta(days=2))
    full = SessionFactory(capacity=1, starts_at=now + timedelta(days=3))
    services.book(session=full, student=StudentFactory())
    mine = SessionFactory()
    services.book(session=mine, student=student)
    SessionFactory(status=SessionStatus.CLOSED)
    SessionFactory(status=SessionStatus.CANCELLED)
    strict = TutorFactory(min_notice_hours=48)
    SessionFactory(tutor=strict, starts_at=now + timedelta(hours=47))  # inside the tutor's notice
    outside_notice = SessionFactory(tutor=strict, starts_at=now + timedelta(hours=49))

    assert ids(student_api.get(API + "sessions/")) == [sooner.pk, outside_notice.pk, full.pk, later.pk]
    assert ids(student_api.get(API + "sessions/?available=true")) == [sooner.pk, outside_notice.pk, later.pk]
    assert ids(student_api.get(API + "sessions/?available=false")) == [full.pk]


def test_every_listed_session_can_be_booked(student, student_api):
    now = timezone.now()
    for hours in (1, 3, 30, 80):
        SessionFactory(tutor=TutorFactory(min_notice_hours=2), starts_at=now + timedelta(hours=hours))
        SessionFactory(starts_at=now + timedelta(hours=hours))

    listed = ids(student_api.get(API + "sessions/?available=true"))

    for session_id in listed:
        response = student_api.post(API + "bookings/", {"session": session_id}, format="json")
        assert response.status_code == 201, response.json()
    assert len(listed) == 7  # all but the tutor's session inside its 2 hours' notice


def test_sessions_filter_by_product_tutor_and_local_days(student_api):
    tutor = TutorFactory(min_notice_hours=1)
    product = ProductFactory()
    day = timezone.localdate() + timedelta(days=5)
    first = SessionFactory(product=product, starts_at=at(day, 0))  # local midnight: that day
    second = SessionFactory(product=product, tutor=tutor, starts_at=at(day, 23))
    next_day = SessionFactory(product=product, starts_at=at(day + timedelta(days=1), 9))
    SessionFactory(starts_at=at(day, 10))  # another product

    assert ids(student_api.get(API + f"sessions/?product={product.pk}")) == [first.pk, second.pk, next_day.pk]
    assert ids(student_api.get(API + f"sessions/?tutor={tutor.pk}")) == [second.pk]
    query = f"sessions/?product={product.pk}&date_from={day}&date_to={day}"
    assert ids(student_api.get(API + query)) == [first.pk, second.pk]
    assert ids(student_api.get(API + f"sessions/?product={product.pk}&date_from={day + timedelta(days=1)}")) == [
        next_day.pk
    ]


@pytest.mark.parametrize(
    "query",
    [
        "product=abc",
        "product=1.5",
        "tutor=x",
        "date_from=2026-13-01",
        "date_to=tomorrow",
        "date_from=0001-01-01",
        "date_to=9999-12-31",
        "available=maybe",
        "date_to=2026-1-5",
        "date_to=",
        "product=",
    ],
)
def test_a_filter_that_does_not_parse_is_a_400(student_api, query):
    body = assert_error(student_api.get(API + f"sessions/?{query}"), 400, "invalid")

    assert set(body["fields"]) == {query.split("=")[0]}


@pytest.mark.parametrize("value", [2**63, 2**70, 0, -1])
def test_an_id_out_of_range_is_a_400_not_an_overflow(student_api, value):
    SessionFactory()

    assert_error(student_api.get(API + f"sessions/?product={value}"), 400, "invalid")


def test_by_date_groups_the_same_sessions_by_local_day(student_api):
    tutor = TutorFactory(min_notice_hours=1, user__first_name="Aziza", user__last_name="K")
    day = timezone.localdate() + timedelta(days=3)
    morning = SessionFactory(starts_at=at(day, 9), tutor=tutor)
    evening = SessionFactory(starts_at=at(day, 23))
    two_days_on = SessionFactory(starts_at=at(day + timedelta(days=2), 10))
    SessionFactory(starts_at=at(day + timedelta(days=40), 10))  # past the default month

    body = student_api.get(API + "sessions/by-date/").json()

    assert body["date_from"] == timezone.localdate().isoformat()
    assert body["date_to"] == (timezone.localdate() + timedelta(days=30)).isoformat()
    assert [(d["date"], [s["id"] for s in d["sessions"]]) for d in body["days"]] == [
        (day.isoformat(), [morning.pk, evening.pk]),
        ((day + timedelta(days=2)).isoformat(), [two_days_on.pk]),
    ]
    assert body["days"][0]["sessions"][0]["seats_left"] == morning.capacity
    assert body["days"][0]["sessions"][0]["tutor"]["name"] == "Aziza K"


def test_by_date_takes_the_same_filters_and_a_bounded_range(student_api):
    day = timezone.localdate() + timedelta(days=3)
    product = ProductFactory()
    wanted = SessionFactory(product=product, starts_at=at(day, 9))
    SessionFactory(starts_at=at(day, 10))

    body = student_api.get(API + f"sessions/by-date/?product={product.pk}&date_from={day}&date_to={day}").json()

    assert [[s["id"] for s in d["sessions"]] for d in body["days"]] == [[wanted.pk]]
    assert_error(
        student_api.get(API + f"sessions/by-date/?date_from={day}&date_to={day - timedelta(days=1)}"), 400, "invalid"
    )
    assert_error(
        student_api.get(API + f"sessions/by-date/?date_from={day}&date_to={day + timedelta(days=62)}"), 400, "invalid"
    )
    assert_error(student_api.get(API + "sessions/by-date/?product=x"), 400, "invalid")
