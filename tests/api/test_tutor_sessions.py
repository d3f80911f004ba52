"""tutor/sessions/: a tutor's sessions, a one-off session, close and reopen, through
bookings.services.sessions; a refusal is a 422 naming the field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bookings import services
from bookings.models import Session, SessionStatus
from tests.api.conftest import API, assert_error, client_for
from tests.factories import ProductFactory, SessionFactory, TutorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tutor():
    return TutorFactory()


@pytest.fixture
def api(tutor):
    return client_for(tutor.user)


def later(days: int) -> str:
    return (timezone.now() + timedelta(days=days)).replace(microsecond=0).isoformat()


def test_it_lists_only_the_tutors_own_sessions(tutor, api):
    mine = SessionFactory(tutor=tutor)
    SessionFactory(tutor=TutorFactory())
    SessionFactory()

    body = api.get(API + "tutor/sessions/").json()

    assert [s["id"] for s in body["results"]] == [mine.pk]
    assert body["results"][0]["seats_left"] == mine.capacity


def test_it_creates_a_one_off_session(tutor, api):
    product = ProductFactory(duration_minutes=90, default_capacity=4)

    response = api.post(API + "tutor/sessions/", {"product": product.pk, "starts_at": later(4)}, format="json")

    assert response.status_code == 201, response.json()
    session = Session.objects.get(pk=response.json()["id"])
    assert (session.tutor, session.capacity, session.ends_at - session.starts_at) == (tutor, 4, timedelta(minutes=90))


def test_a_session_in_the_past_is_refused_with_its_field(api):
    response = api.post(
        API + "tutor/sessions/", {"product": ProductFactory().pk, "starts_at": later(-1)}, format="json"
    )

    body = assert_error(response, 422, "session_change_refused")
    assert list(body["fields"]) == ["starts_at"]
    assert not Session.objects.exists()


def test_a_clash_with_the_tutors_own_session_is_refused(tutor, api):
    existing = SessionFactory(tutor=tutor)

    response = api.post(
        API + "tutor/sessions/",
        {"product": existing.product.pk, "starts_at": existing.starts_at.isoformat()},
        format="json",
    )

    body = assert_error(response, 422, "session_change_refused")
    assert "starts_at" in body["fields"]
    assert Session.objects.count() == 1


def test_it_closes_and_reopens_a_session(tutor, api):
    session = SessionFactory(tutor=tutor)

    closed = api.post(API + f"tutor/sessions/{session.pk}/close/")
    assert closed.status_code == 200 and closed.json()["status"] == SessionStatus.CLOSED
    reopened = api.post(API + f"tutor/sessions/{session.pk}/reopen/")
    assert reopened.status_code == 200 and reopened.json()["status"] == SessionStatus.OPEN
    session.refresh_from_db()
    assert session.status == SessionStatus.OPEN


def test_closing_a_closed_session_is_a_refused_transition(tutor, api):
    session = services.close_session(SessionFactory(tutor=tutor))

    assert_error(api.post(API + f"tutor/sessions/{session.pk}/close/"), 422, "invalid_transition")
