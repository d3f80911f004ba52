"""One seats notation everywhere: "3 of 4 left" before the start ("full", "closed", "cancelled"),
attendance once the session has started ("2 of 3 attended"). The calendar, the sessions list and a
session's page, the dashboard, the tutor workspace and the iCal feed all say the same words, from
bookings.selectors, without a query per row."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bookings import services
from bookings.models import BookingStatus, SessionStatus
from bookings.selectors import SEATS_ATTENDANCE, SEATS_BEFORE_START, Seats, seats_before_start, session_seats
from tests.factories import (
    LessonFactory,
    ManagerFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    booking_in,
)

pytestmark = pytest.mark.django_db

TASHKENT = ZoneInfo("Asia/Tashkent")
# A Wednesday at noon: the morning's lesson is over, Thursday's is still to come.
NOW = datetime(2026, 3, 11, 12, 0, tzinfo=TASHKENT)
MORNING = datetime(2026, 3, 11, 8, 0, tzinfo=TASHKENT)
TOMORROW = datetime(2026, 3, 12, 10, 0, tzinfo=TASHKENT)
CALENDAR = reverse("admin:bookings_session_calendar")
SESSIONS = reverse("admin:bookings_session_changelist")


def figures(html: str) -> dict[int, tuple[str, str]]:
    """Every seats figure on a page: session id -> (kind, words)."""
    found = re.findall(r'data-session-seats="(\d+)" data-seats-kind="(\w+)">([^<]*)<', html)
    return {int(pk): (kind, text) for pk, kind, text in found}


@pytest.fixture
def centre():
    """A tutor's lesson this morning (2 attended, 1 missed) and tomorrow's (1 of 4 seats taken)."""
    tutor = TutorFactory(timezone="Asia/Tashkent")
    lesson = LessonFactory(name="Group speaking", duration_minutes=60, default_capacity=4)
    with time_machine.travel(MORNING - timedelta(days=3), tick=False):
        past = SessionFactory(product=lesson, tutor=tutor, capacity=4, starts_at=MORNING)
        upcoming = SessionFactory(product=lesson, tutor=tutor, capacity=4, starts_at=TOMORROW)
        for status in (BookingStatus.COMPLETED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW):
            booking_in(status, session=past)
        booking_in(BookingStatus.CANCELLED, session=past)  # never came to the session: not counted
        services.book(session=upcoming, student=StudentFactory())
    past.refresh_from_db()
    upcoming.refresh_from_db()
    return {"tutor": tutor, "past": past, "upcoming": upcoming}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


# --- The words -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "capacity", "taken", "words"),
    [
        (SessionStatus.OPEN, 30, 18, "12 of 30 left"),  # slot.updated carries these as seats_text
        (SessionStatus.OPEN, 1, 0, "1 of 1 left"),
        (SessionStatus.OPEN, 30, 30, "full"),
        (SessionStatus.CLOSED, 30, 3, "closed"),
        (SessionStatus.CANCELLED, 30, 0, "cancelled"),
    ],
)
def test_it_writes_the_seats_before_the_start_as_seats_left_of_capacity_or_a_word(status, capacity, taken, words):
    assert seats_before_start(status=status, capacity=capacity, seats_taken=taken) == Seats(words, SEATS_BEFORE_START)


def test_a_started_session_shows_its_attendance_and_a_cancelled_one_says_so(centre, clock):
    assert session_seats(centre["past"]) == Seats("2 of 3 attended", SEATS_ATTENDANCE)
    assert session_seats(centre["upcoming"]) == Seats("3 of 4 left", SEATS_BEFORE_START)
    empty = SessionFactory(starts_at=NOW + timedelta(days=1))
    services.close_session(empty)
    with time_machine.travel(empty.ends_at + timedelta(minutes=1), tick=False):
        assert session_seats(empty).text == "no bookings"
    services.cancel_session(centre["upcoming"])
    centre["upcoming"].refresh_from_db()
    assert session_seats(centre["upcoming"]).text == "cancelled"


# --- Every page says the same ----------------------------------------------------------------------


def test_every_page_shows_the_same_words_for_the_same_session(client, centre, clock):
    past, upcoming = centre["past"], centre["upcoming"]
    client.force_login(ManagerFactory())
    pages = {
        "calendar": client.get(CALENDAR, {"date": NOW.date().isoformat()}),
        "calendar month": client.get(CALENDAR, {"view": "month", "date": NOW.date().isoformat()}),
        "sessions list": client.get(SESSIONS),
        "past session's page": client.get(reverse("admin:bookings_session_change", args=[past.pk])),
        "session's page": client.get(reverse("admin:bookings_session_change", args=[upcoming.pk])),
        "dashboard": client.get(reverse("admin:index")),
    }
    client.force_login(centre["tutor"].user)
    pages["tutor workspace"] = client.get(reverse("admin:index"))

    seen = {}
    for name, response in pages.items():
        assert response.status_code == 200, name
        seen[name] = figures(response.content.decode())

    for name in pages:
        if name != "past session's page":
            assert seen[name][upcoming.pk] == ("seats", "3 of 4 left"), name
        if name not in ("dashboard", "session's page"):  # the dashboard lists sessions still to start
            assert seen[name][past.pk] == ("attendance", "2 of 3 attended"), name


def test_the_ical_feed_uses_the_same_words(client, centre, clock):
    tutor = centre["tutor"]
    response = client.get(reverse("tutor-calendar", args=[tutor.calendar_token]))

    events = {str(event["UID"]): event for event in icalendar.Calendar.from_ical(response.content).walk("VEVENT")}
    past = events[f"session-{centre['past'].pk}@testserver"]
    upcoming = events[f"session-{centre['upcoming'].pk}@testserver"]
    assert str(past["SUMMARY"]) == "Group speaking (2 of 3 attended)"
    assert "Seats: 2 of 3 attended" in str(past["DESCRIPTION"])
    assert str(upcoming["SUMMARY"]) == "Group speaking (3 of 4 left)"
    assert "Seats: 3 of 4 left" in str(upcoming["DESCRIPTION"])


def test_the_booking_form_offers_sessions_in_the_same_words(client, centre, clock):
    booking = booking_in(BookingStatus.PENDING, session=SessionFactory(product=centre["upcoming"].product))
    client.force_login(ManagerFactory())

    response = client.get(reverse("admin:bookings_booking_reschedule_booking", args=[booking.pk]))

    labels = dict(response.context["form"].fields["to_session"].choices)
    assert labels[centre["upcoming"].pk].endswith("· 3 of 4 left")


# --- No query per row -------------------------------------------------------------------------------


def test_attendance_costs_no_query_per_session(client, clock):
    """The sessions list, the calendar, the tutor workspace and the iCal feed read attendance in
    the query that reads the sessions: as many queries for 3 attended sessions as for 30."""
    tutor = TutorFactory(timezone="Asia/Tashkent")
    lesson = LessonFactory(default_capacity=2)

    def add(first: int, count: int) -> None:
        for i in range(first, first + count):  # this morning and the days before, a minute apart
            with time_machine.travel(MORNING - timedelta(days=10), tick=False):
                starts = MORNING - timedelta(days=i % 5, minutes=i)
                session = SessionFactory(product=lesson, tutor=tutor, capacity=2, starts_at=starts)
                booking_in(BookingStatus.COMPLETED, session=session)

    def queries(user, url: str, params: dict | None = None) -> int:
        client.force_login(user)
        client.get(url, params)  # warm the session and permission caches
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, params)
        assert response.status_code == 200
        assert "1 of 1 attended" in response.content.decode()
        return len(captured)

    manager = ManagerFactory()
    feed = reverse("tutor-calendar", args=[tutor.calendar_token])
    week = {"date": NOW.date().isoformat()}

    def all_pages() -> dict[str, int]:
        return {
            "sessions list": queries(manager, SESSIONS),
            "calendar": queries(manager, CALENDAR, week),
            "workspace": queries(tutor.user, reverse("admin:index")),
            "ical": queries(tutor.user, feed),
        }

    add(0, 3)
    before = all_pages()
    add(3, 27)
    assert all_pages() == before
