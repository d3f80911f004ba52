"""The session form refuses impossible schedules on the field they are about (the rules of
bookings.services.schedule), and the session's page shows its history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.models import Session, SessionStatus
from tests.bookings.test_admin_sessions import INLINE, change_url, detail, edit, later
from tests.factories import LessonFactory, OperatorFactory, ProductFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client):
    client.force_login(OperatorFactory())
    return client


# --- Impossible schedules are refused on the form, on the field they are about ----------------------


def add_data(product, *, starts, tutor=None, room="", capacity="", status=SessionStatus.OPEN) -> dict[str, object]:
    local = timezone.localtime(starts)
    return {
        "product": product.pk,
        "tutor": tutor.pk if tutor else "",
        "room": room,
        "starts_at_0": local.strftime("%d/%m/%Y"),
        "starts_at_1": local.strftime("%H:%M"),
        "capacity": capacity,
        "status": status,
        **INLINE,
    }


def refused_add(client, data: dict[str, object], field: str) -> str:
    """POST the add form; it must come back with an error on ``field`` and add nothing."""
    before = Session.objects.count()
    response = client.post(reverse("admin:bookings_session_add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert Session.objects.count() == before
    return str(errors[field])


def test_the_add_form_refuses_a_lesson_overlapping_the_tutors_lesson_in_the_same_room(operator_client):
    tutor = TutorFactory(buffer_after_minutes=10)
    lesson = LessonFactory(duration_minutes=60)
    services.create_session(product=lesson, tutor=tutor, starts_at=later(hour=10), room="Room 4")

    overlapping = refused_add(
        operator_client,
        add_data(lesson, starts=later(hour=10) + timedelta(minutes=30), tutor=tutor, room="Room 4"),
        "starts_at",
    )
    in_the_buffer = refused_add(
        operator_client, add_data(lesson, starts=later(hour=11) + timedelta(minutes=5), tutor=tutor), "starts_at"
    )

    assert "already has a session then" in overlapping and "already has a session then" in in_the_buffer


def test_the_add_form_refuses_a_room_taken_then(operator_client):
    services.create_session(product=ProductFactory(name="IELTS mock"), starts_at=later(hour=9), room="Hall A")

    error = refused_add(operator_client, add_data(ProductFactory(), starts=later(hour=10), room="hall A"), "room")

    assert "hall A is taken then (IELTS mock 09:00)" in error


def test_the_add_form_refuses_a_one_to_one_lesson_without_a_tutor(operator_client):
    lesson = LessonFactory(code="IELTS-1TO1", default_capacity=1)

    error = refused_add(operator_client, add_data(lesson, starts=later()), "tutor")

    assert "IELTS-1TO1 is a lesson: give its tutor." in error


@pytest.mark.parametrize(("capacity", "message"), [("0", "at least one seat"), ("100000", "at most 500 seats")])
def test_the_add_form_refuses_a_capacity_out_of_range(operator_client, capacity, message):
    error = refused_add(operator_client, add_data(ProductFactory(), starts=later(), capacity=capacity), "capacity")

    assert message in error


def test_the_add_form_refuses_a_one_to_one_lesson_for_three(operator_client):
    lesson = LessonFactory(code="IELTS-1TO1", default_capacity=1)

    error = refused_add(
        operator_client, add_data(lesson, starts=later(), tutor=TutorFactory(), capacity="3"), "capacity"
    )

    assert "one-to-one lesson: its capacity is 1" in error


def test_the_add_form_refuses_a_session_starting_in_the_past(operator_client):
    error = refused_add(operator_client, add_data(ProductFactory(), starts=later(days=-1)), "starts_at")

    assert "is in the past: only future sessions can be added" in error


def test_an_edit_refuses_moving_an_open_session_into_the_past(operator_client):
    session = SessionFactory(room="Room 1")
    yesterday = timezone.localtime(later(days=-1))

    response = edit(
        operator_client,
        session,
        starts_at_0=yesterday.strftime("%d/%m/%Y"),
        starts_at_1=yesterday.strftime("%H:%M"),
        ends_at_0="",
        ends_at_1="",
    )

    assert response.status_code == 200
    assert "an open session starts in the future" in str(response.context["adminform"].form.errors["starts_at"])
    assert Session.objects.get(pk=session.pk).starts_at == session.starts_at


# --- The session's history on its page ---------------------------------------------------------------


def test_the_page_shows_the_history_the_admin_wrote_in_words_and_local_times(operator_client):
    product = ProductFactory(name="IELTS mock")
    data = add_data(product, starts=later(hour=9), room="Room 1", capacity="20")
    assert operator_client.post(reverse("admin:bookings_session_add"), data).status_code == 302
    session = Session.objects.get()
    assert edit(operator_client, session, room="Hall B", capacity=25).status_code == 302
    operator_client.post(detail(session, "close"), {"confirm": "yes"})
    operator_client.post(detail(session, "duplicate"), {"confirm": "yes", "weeks": "1"})

    html = operator_client.get(change_url(session)).content.decode()

    assert list(session.events.values_list("action", flat=True)) == [
        "session.created",
        "session.edited",
        "session.capacity_changed",
        "session.closed",
        "session.duplicated",
    ]
    assert {e.actor.role for e in session.events.all()} == {"operator"}
    assert "data-session-history" in html
    for words in (
        "Created",
        "20 seat(s), room Room 1",
        "Room: Room 1 → Hall B",
        "20 → 25 seats",
        "Closed to new bookings",
    ):
        assert words in html
    copy = Session.objects.exclude(pk=session.pk).get()
    assert f"Copied to 1 week(s): {timezone.localtime(copy.starts_at):%a %d %b %Y %H:%M}" in html
    assert "session.edited" not in html and "capacity_changed" not in html


def test_the_history_of_a_cancelled_session_says_how_many_bookings_went_with_it(operator_client):
    session = SessionFactory(capacity=5)
    for _ in range(2):
        services.book(session=session, student=StudentFactory())

    operator_client.post(detail(session, "cancel"), {"confirm": "yes", "reason": "staff", "note": "Room flooded"})

    html = operator_client.get(change_url(session)).content.decode()
    assert "2 booking(s) cancelled with it, by the centre: Room flooded" in html


def test_the_session_page_costs_the_same_queries_with_1_or_20_history_rows(admin_client):
    session = services.create_session(product=ProductFactory(), starts_at=later(), room="Room 1")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(change_url(session)).status_code == 200
        return len(captured)

    admin_client.get(change_url(session))
    with_one = queries()
    for capacity in range(2, 21):
        services.change_capacity(session, capacity=capacity, actor=OperatorFactory())

    assert session.events.count() == 20
    assert queries() == with_one
