"""A tutor's open admin page hears about a booking the moment an operator makes it: a toast, and
the bell's unread count goes up, without a reload. Served by daphne (WebSockets); both people
work in the same server process, so this runs on the embedded in-memory layer as well."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bookings import services
from bookings.models import Booking
from realtime import delivery
from tests.e2e.conftest import book_through_the_admin, log_in
from tests.factories import OperatorFactory, SessionFactory, StudentFactory, TutorFactory
from tests.servers import daphne, daphne_server

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_tutor_sees_a_toast_and_the_unread_count_when_an_operator_books_their_session(open_page, shot):
    tutor = TutorFactory()
    session = SessionFactory(tutor=tutor, capacity=4)
    student = StudentFactory(first_name="Dilnoza", last_name="Karimova")
    operator = OperatorFactory()

    with daphne() as base:
        tutor_page = open_page(base)
        log_in(tutor_page, tutor.user)
        bell = tutor_page.locator("#sd-bell")
        expect(bell).to_have_attribute("data-unread", "0")
        # The client is connected once the hello has set the count; give it that moment.
        tutor_page.wait_for_function("() => window.SeatdeskLive !== undefined")

        operator_page = open_page(base)
        log_in(operator_page, operator)
        book_through_the_admin(operator_page, base, session, student)
        booking = Booking.objects.get(session=session, student=student)

        toast = tutor_page.locator("#sd-toasts .sd-toast").filter(has_text="New booking")
        expect(toast).to_be_visible()
        expect(toast).to_contain_text(booking.reference)
        expect(bell).to_have_attribute("data-unread", "1")
        shot(tutor_page, "live-toast-tutor")


IDLE_MS = 60_000


@pytest.mark.redis
def test_a_tutors_page_left_open_a_minute_on_redis_keeps_its_one_socket_and_still_gets_the_toast(open_page):
    """With channels-redis every quiet socket used to die after ~5 s (redis-py's socket timeout
    equalled channels-redis's 5 s blocking read) and the page reconnected every few seconds."""
    tutor = TutorFactory()
    session = SessionFactory(tutor=tutor, capacity=4)
    student = StudentFactory(first_name="Dilnoza", last_name="Karimova")

    with daphne_server() as server:
        login_page = open_page(server.base)
        log_in(login_page, tutor.user)
        # A fresh tab of the logged-in browser: every socket it opens is counted, none from the login.
        page = login_page.context.new_page()
        login_page.close()
        sockets, frames = [], []

        def opened(socket) -> None:
            sockets.append(socket)
            socket.on("framereceived", lambda payload: frames.append(str(payload)))

        page.on("websocket", opened)
        page.goto("/admin/")
        wait_until(page, lambda: any('"hello"' in frame for frame in frames))

        page.wait_for_timeout(IDLE_MS)  # left alone: the condition under test
        # No reconnect: the first socket lives on.
        assert (len(sockets), sockets[0].is_closed()) == (1, False), server.stderr()[-3000:]

        booking = services.book(session=session, student=student)
        delivery.flush()
        toast = page.locator("#sd-toasts .sd-toast").filter(has_text="New booking")
        expect(toast).to_contain_text(booking.reference)
        assert (len(sockets), sockets[0].is_closed()) == (1, False)


def wait_until(page, condition, timeout_ms: int = 10_000) -> None:
    """Let the page run (its events reach our handlers) until ``condition()`` holds."""
    for _ in range(timeout_ms // 50):
        if condition():
            return
        page.wait_for_timeout(50)
    raise AssertionError("the condition did not hold in time")
