"""Every seats figure of a session, on every page that shows it, changes the moment an operator
books a seat elsewhere: the calendar, the sessions list, the session's own page, the dashboard and
the tutor's workspace, all in the one notation ("3 of 4 left"). Served by daphne (WebSockets); the
operator books through the same server, so this runs on the embedded in-memory layer as well."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from bookings import services
from bookings.models import BookingStatus
from tests.e2e.conftest import book_through_the_admin, log_in
from tests.factories import (
    LessonFactory,
    ManagerFactory,
    OperatorFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    booking_in,
)
from tests.servers import daphne

pytestmark = pytest.mark.django_db(transaction=True)


def watched_page(context, path: str, session_id: int) -> object:
    """Open ``path`` in ``context`` and wait until its socket watches ``session_id``: from then on
    the session's ``slot.updated`` reaches the page (a tutor is in no group that hears it otherwise)."""
    page = context.new_page()
    frames: list[str] = []
    page.on("websocket", lambda socket: socket.on("framereceived", lambda payload: frames.append(str(payload))))
    page.goto(path)
    watching = {"type": "watching", "session": session_id}
    for _ in range(200):
        if any(json.loads(frame) == watching for frame in frames):
            return page
        page.wait_for_timeout(50)
    raise AssertionError(f"{path} never watched session {session_id}: {frames}")


def figures(page, session) -> object:
    return page.locator(f'[data-session-seats="{session.pk}"]')


def test_every_seats_figure_on_every_page_follows_a_booking_made_elsewhere(open_page, shot):
    tutor = TutorFactory(user__first_name="Aziza", user__last_name="Karimova")
    lesson = LessonFactory(name="Group speaking", duration_minutes=60, default_capacity=4)
    session = SessionFactory(product=lesson, tutor=tutor, capacity=4, room="Room 3")
    services.book(session=session, student=StudentFactory())
    # Yesterday's lesson, already held: its figure is attendance and stays as it is.
    with time_machine.travel(timezone.now() - timedelta(days=3), tick=False):
        past = SessionFactory(product=lesson, tutor=tutor, capacity=4, starts_at=timezone.now() + timedelta(days=2))
        booking_in(BookingStatus.COMPLETED, session=past)
        booking_in(BookingStatus.NO_SHOW, session=past)
    student = StudentFactory(first_name="Dilnoza", last_name="Karimova")
    day = timezone.localtime(session.starts_at).date().isoformat()

    with daphne() as base:
        staff = open_page(base)
        log_in(staff, ManagerFactory())
        pages = {
            "calendar": watched_page(staff.context, f"/admin/bookings/session/calendar/?date={day}", session.pk),
            "calendar-month": watched_page(
                staff.context, f"/admin/bookings/session/calendar/?view=month&date={day}", session.pk
            ),
            "sessions": watched_page(staff.context, "/admin/bookings/session/?when=all", session.pk),
            "session": watched_page(staff.context, f"/admin/bookings/session/{session.pk}/change/", session.pk),
            "dashboard": watched_page(staff.context, "/admin/", session.pk),
        }
        tutor_login = open_page(base)
        log_in(tutor_login, tutor.user)
        pages["workspace"] = watched_page(tutor_login.context, "/admin/", session.pk)

        for name, page in pages.items():
            count = figures(page, session).count()
            assert count >= 1, name
            expect(figures(page, session)).to_have_text(["3 of 4 left"] * count)
        expect(figures(pages["sessions"], past)).to_have_text(["1 of 2 attended"])
        shot(pages["calendar"], "seats-live-calendar-before")
        shot(pages["workspace"], "seats-live-workspace-before")

        operator = open_page(base)
        log_in(operator, OperatorFactory())
        book_through_the_admin(operator, base, session, student)

        for name, page in pages.items():
            count = figures(page, session).count()
            expect(figures(page, session), name).to_have_text(["2 of 4 left"] * count)
        expect(figures(pages["sessions"], past)).to_have_text(["1 of 2 attended"])
        for name, page in pages.items():
            shot(page, f"seats-live-{name}-after")
