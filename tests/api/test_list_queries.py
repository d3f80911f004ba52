"""Every list endpoint runs the same queries for 3 rows as for 30 (no per-row query)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings import services
from bookings.models import CancelReason
from tests.api.conftest import API
from tests.factories import ProductFactory, SessionFactory, TutorFactory

pytestmark = pytest.mark.django_db


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.json()
    return len(captured)


def sessions(n: int) -> list:
    made = []
    for i in range(n):
        tutor = TutorFactory(min_notice_hours=1 + i % 3) if i % 2 else None
        made.append(SessionFactory(tutor=tutor, starts_at=timezone.now() + timedelta(days=2, hours=i)))
    return made


def bookings(student, n: int) -> list:
    made = []
    for i, session in enumerate(sessions(n)):
        booking = services.book(session=session, student=student)
        if i % 3 == 1:
            services.record_payment(booking, provider="cash", amount=booking.price)
        elif i % 3 == 2:
            services.cancel(booking, reason=CancelReason.STAFF)
        made.append(booking)
    return made


def history(student, n: int) -> str:
    booking = services.book(session=SessionFactory(), student=student)
    for _ in range(n // 2):
        services.record_payment(booking, provider="cash", amount=1)
    return f"bookings/{booking.reference}/history/?page_size=100"


LISTS: list[tuple[str, Callable[..., object], int]] = [
    # (URL, what makes n rows, queries: the token's user, then what the list reads)
    ("products/?page_size=100", lambda student, n: [ProductFactory() for _ in range(n)], 3),
    ("sessions/?page_size=100", lambda student, n: sessions(n), 4),  # + the tutors' notices
    ("sessions/?available=true&page_size=100", lambda student, n: sessions(n), 4),
    ("sessions/by-date/", lambda student, n: sessions(n), 3),  # not paged: no count
    # The student's bookings: the count comes with the page (api.pagination.WindowCountPaginator).
    ("bookings/?page_size=100", bookings, 2),
    ("bookings/?type=future&page_size=100", bookings, 2),
    ("bookings/?status=paid&page_size=100", bookings, 2),
    (None, history, 4),  # + the booking
]


@pytest.mark.parametrize(("url", "make", "expected"), LISTS, ids=[u or "history" for u, *_ in LISTS])
def test_the_same_queries_for_3_and_30_rows(student, student_api, url, make, expected):
    made = make(student, 3)
    few = queries(student_api, API + (url or made))
    made = make(student, 30)
    many = queries(student_api, API + (url or made))

    assert few == many == expected


def test_the_bookings_count_comes_with_the_page_and_an_empty_page_counts_alone(student, student_api):
    bookings(student, 5)

    second = student_api.get(API + "bookings/?page_size=2&page=2").json()
    last = student_api.get(API + "bookings/?page_size=2&page=last").json()
    past_the_end = student_api.get(API + "bookings/?page_size=2&page=4")
    nothing = student_api.get(API + "bookings/?type=past").json()

    assert (second["count"], len(second["results"]), second["next"] is not None) == (5, 2, True)
    assert (last["count"], len(last["results"]), last["next"]) == (5, 1, None)
    assert past_the_end.status_code == 404 and past_the_end.json()["code"] == "not_found"
    assert (nothing["count"], nothing["results"]) == (0, [])
    with CaptureQueriesContext(connection) as captured:
        student_api.get(API + "bookings/?page_size=2&page=4")
    assert len(captured) == 3  # the user, the empty page, then the count
