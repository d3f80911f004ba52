"""Every tutor/ list and both calendars run the same queries for 3 rows as for 30 (no per-row query)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings.models import BookingStatus, Tutor
from bookings.services import tutors as tutor_services
from tests.api.conftest import API, client_for
from tests.factories import ProductFactory, SessionFactory, StudentFactory, booking_in

pytestmark = pytest.mark.django_db

# Every row falls in one local week, so the week views see all of them.
MONDAY = timezone.localdate() + timedelta(days=14 - timezone.localdate().weekday())


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return len(captured)


def sessions(tutor: Tutor | None, n: int, offset: int = 0) -> list:
    start = timezone.make_aware(datetime.combine(MONDAY, time(8)))
    return [
        SessionFactory(tutor=tutor, starts_at=start + timedelta(days=i % 7, minutes=10 * (i + offset)))
        for i in range(n)
    ]


def windows(tutor: Tutor, n: int, offset: int = 0) -> None:
    product = ProductFactory()
    for i in range(n):
        tutor_services.add_availability(
            tutor, product=product, weekday=i % 7, start_time=time(6 + (i + offset) % 12), end_time=time(19)
        )


def days_off(tutor: Tutor, n: int, offset: int = 0) -> None:
    for i in range(n):
        tutor_services.add_date_exception(tutor, date=date(2030, 1, 1) + timedelta(days=i + offset))


def bookings(tutor: Tutor, n: int, offset: int = 0) -> None:
    statuses = (BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.CANCELLED)
    for i, session in enumerate(sessions(tutor, n, offset)):
        booking_in(statuses[i % 3], session=session)


LISTS: list[tuple[str, Callable[..., None], int]] = [
    # (URL, what makes n rows, queries: the token's user, the tutor profile, then what the list reads)
    ("tutor/availability/?page_size=100", windows, 4),
    ("tutor/exceptions/?page_size=100", days_off, 4),
    ("tutor/sessions/?page_size=100", sessions, 4),
    ("tutor/bookings/?page_size=100", bookings, 4),
    ("tutor/bookings/?status=pending&page_size=100", bookings, 4),
    (f"tutor/calendar/?view=week&date={MONDAY}", sessions, 3),  # not paged: no count
]


@pytest.mark.parametrize(("url", "make", "expected"), LISTS, ids=[u for u, *_ in LISTS])
def test_the_same_queries_for_3_and_30_rows(tutor, url, make, expected):
    api = client_for(tutor.user)
    make(tutor, 3)
    few = queries(api, API + url)
    make(tutor, 30, 3)
    many = queries(api, API + url)

    assert few == many == expected


def test_the_student_calendar_runs_the_same_queries_for_3_and_30_bookings():
    student = StudentFactory()
    api = client_for(student)
    url = API + f"calendar/?view=week&date={MONDAY}"
    for session in sessions(None, 3):
        booking_in(BookingStatus.PENDING, session=session, student=student)
    few = queries(api, url)
    for session in sessions(None, 30, 3):
        booking_in(BookingStatus.CONFIRMED, session=session, student=student)
    many = queries(api, url)

    assert few == many == 2  # the token's user, the bookings
