"""calendar/ and tutor/calendar/: month, week and day views of one's own sessions, and the iCal files."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import icalendar
import pytest
from django.utils import timezone

from bookings import services
from bookings.models import BookingStatus
from tests.api.conftest import API, assert_error, client_for
from tests.factories import SessionFactory, StudentFactory, TutorFactory, booking_in

pytestmark = pytest.mark.django_db

# A Wednesday, far enough ahead for every session to be bookable.
DAY = timezone.localdate() + timedelta(days=30 + (2 - timezone.localdate().weekday()) % 7)


def at(day: date, hour: int) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


@pytest.fixture
def student():
    return StudentFactory()


@pytest.fixture
def booked(student):
    """The student's bookings: on DAY, two days later, next month; one cancelled on DAY."""
    sessions = [
        SessionFactory(starts_at=at(DAY, 10)),
        SessionFactory(starts_at=at(DAY + timedelta(days=2), 9)),
        SessionFactory(starts_at=at(DAY + timedelta(days=40), 9)),
    ]
    made = [booking_in(BookingStatus.PENDING, session=s, student=student) for s in sessions]
    booking_in(BookingStatus.CANCELLED, session=SessionFactory(starts_at=at(DAY, 15)), student=student)
    booking_in(BookingStatus.PENDING, session=SessionFactory(starts_at=at(DAY, 12)))  # someone else's
    return made


def references(body: dict) -> list[list[str]]:
    return [[item["reference"] for item in day["items"]] for day in body["days"]]


def test_the_day_view_shows_the_students_own_sessions_of_that_day(student, booked):
    body = client_for(student).get(API + f"calendar/?view=day&date={DAY}").json()

    assert (body["view"], body["date_from"], body["date_to"]) == ("day", str(DAY), str(DAY))
    assert references(body) == [[booked[0].reference]]
    assert body["days"][0]["items"][0]["session"]["session_time"] == "10:00"


def test_the_week_view_runs_monday_to_sunday(student, booked):
    body = client_for(student).get(API + f"calendar/?view=week&date={DAY}").json()

    monday = DAY - timedelta(days=DAY.weekday())
    assert (body["date_from"], body["date_to"]) == (str(monday), str(monday + timedelta(days=6)))
    assert references(body) == [[booked[0].reference], [booked[1].reference]]


def test_the_month_view_is_the_default(student, booked):
    body = client_for(student).get(API + f"calendar/?date={DAY}").json()

    assert body["view"] == "month"
    assert body["date_from"] == str(DAY.replace(day=1))
    shown = {ref for day in references(body) for ref in day}
    assert booked[0].reference in shown and booked[2].reference not in shown


@pytest.mark.parametrize("query", ["view=year", "date=2026-1-5", "date=0001-01-01", "date="])
def test_a_query_that_does_not_parse_is_a_400(student, query):
    assert_error(client_for(student).get(API + f"calendar/?{query}"), 400, "invalid")


def test_the_student_export_is_an_ical_of_their_sessions(student, booked):
    response = client_for(student).get(API + "calendar/export/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    events = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    # Held seats only: not the cancelled booking, nor another student's session.
    assert sorted(str(e["uid"]) for e in events) == sorted(f"session-{b.session_id}@seatdesk" for b in booked)


def test_the_tutor_calendar_shows_their_sessions_cancelled_ones_too():
    tutor = TutorFactory()
    mine = SessionFactory(tutor=tutor, starts_at=at(DAY, 10))
    cancelled = SessionFactory(tutor=tutor, starts_at=at(DAY, 14))
    services.cancel_session(cancelled)
    SessionFactory(tutor=TutorFactory(), starts_at=at(DAY, 11))

    body = client_for(tutor.user).get(API + f"tutor/calendar/?view=day&date={DAY}").json()

    items = body["days"][0]["items"]
    assert [(s["id"], s["status"]) for s in items] == [(mine.pk, "open"), (cancelled.pk, "cancelled")]
    assert items[0]["seats_left"] == mine.capacity


def test_the_tutor_export_is_an_ical_of_their_sessions():
    tutor = TutorFactory()
    mine = SessionFactory(tutor=tutor, starts_at=at(DAY, 10))
    SessionFactory(tutor=TutorFactory(), starts_at=at(DAY, 11))

    response = client_for(tutor.user).get(API + "tutor/calendar/export/")

    assert response.status_code == 200
    events = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    assert [str(e["uid"]) for e in events] == [f"session-{mine.pk}@seatdesk"]
