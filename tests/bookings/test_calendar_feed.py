from __future__ import annotations

from datetime import UTC, timedelta

import icalendar
import pytest
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.calendar_feed import calendar_url
from tests.factories import LessonFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tutor():
    return TutorFactory(min_notice_hours=0)


def feed(client, tutor) -> icalendar.Calendar:
    response = client.get(reverse("tutor-calendar", args=[tutor.calendar_token]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(response.content)


def test_it_publishes_one_event_per_session_with_its_seats(client, tutor):
    lesson = LessonFactory(name="Group writing", default_capacity=4)
    session = SessionFactory(product=lesson, tutor=tutor, room="Room 2")
    services.book(session=session, student=StudentFactory())
    services.book(session=session, student=StudentFactory())
    SessionFactory(product=lesson, tutor=tutor, starts_at=session.starts_at + timedelta(days=1))
    SessionFactory(product=lesson, tutor=TutorFactory())  # someone else's

    calendar = feed(client, tutor)

    events = calendar.walk("VEVENT")
    assert len(events) == 2
    first = events[0]
    assert str(first["SUMMARY"]) == "Group writing (2 of 4 left)"
    assert "Seats: 2 of 4 left" in str(first["DESCRIPTION"])
    assert str(first["LOCATION"]) == "Room 2"
    assert str(first["STATUS"]) == "CONFIRMED"
    assert first.decoded("DTSTART") == session.starts_at.astimezone(UTC)
    assert first.decoded("DTEND") == session.ends_at.astimezone(UTC)
    assert str(first["UID"]) == f"session-{session.pk}@testserver"
    assert str(calendar["VERSION"]) == "2.0"
    assert "PRODID" in calendar


def test_it_marks_a_cancelled_session_cancelled(client, tutor):
    session = SessionFactory(product=LessonFactory(), tutor=tutor)
    services.book(session=session, student=StudentFactory())
    services.cancel_session(session)

    event = feed(client, tutor).walk("VEVENT")[0]

    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]).startswith("Cancelled: ")


def test_it_answers_404_to_a_wrong_or_revoked_token(client, tutor):
    old = tutor.calendar_token
    assert client.get(reverse("tutor-calendar", args=["not-a-token"])).status_code == 404
    services.regenerate_calendar_token(tutor)
    assert tutor.calendar_token != old
    assert client.get(reverse("tutor-calendar", args=[old])).status_code == 404
    assert client.get(reverse("tutor-calendar", args=[tutor.calendar_token])).status_code == 200


def test_it_shows_a_month_back_and_the_months_ahead(client, tutor):
    now = timezone.now()
    SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=now - timedelta(days=45))
    SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=now - timedelta(days=10))
    SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=now + timedelta(days=60))
    assert len(feed(client, tutor).walk("VEVENT")) == 2


def test_every_tutor_gets_their_own_unguessable_token():
    first, second = TutorFactory(), TutorFactory()
    assert first.calendar_token != second.calendar_token
    assert len(first.calendar_token) >= 32


def test_the_tutor_page_shows_the_absolute_link_and_staff_can_regenerate_it(admin_client, tutor, settings):
    settings.SITE_URL = "https://seatdesk.example.uz"
    page = admin_client.get(reverse("admin:bookings_tutor_change", args=[tutor.pk]))
    assert calendar_url(tutor) in page.content.decode()
    assert calendar_url(tutor).startswith("https://seatdesk.example.uz/calendar/")

    old = tutor.calendar_token
    response = admin_client.post(
        reverse("admin:bookings_tutor_changelist"),
        {"action": "regenerate_calendar_links", "_selected_action": [tutor.pk]},
    )
    assert response.status_code == 302
    tutor.refresh_from_db()
    assert tutor.calendar_token != old


def test_without_site_url_the_links_follow_the_address_the_page_was_opened_on(admin_client, tutor, settings):
    settings.SITE_URL = ""
    settings.ALLOWED_HOSTS = ["*"]
    path = reverse("tutor-calendar", args=[tutor.calendar_token])

    page = admin_client.get(reverse("admin:bookings_tutor_change", args=[tutor.pk]), HTTP_HOST="127.0.0.1:8123")
    assert f"http://127.0.0.1:8123{path}" in page.content.decode()

    admin_client.force_login(tutor.user)
    workspace = admin_client.get(reverse("admin:index"), HTTP_HOST="seatdesk.local:9000")
    assert f'value="http://seatdesk.local:9000{path}"' in workspace.content.decode()
