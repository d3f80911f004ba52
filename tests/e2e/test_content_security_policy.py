"""The back office works under its Content-Security-Policy: a manager walks the main pages on daphne
(the live client's WebSocket included) and the browser reports no violation and no script error,
while the sidebar menu, the command palette, the dashboard's charts, the cancel dialog, the calendar,
the import form and our own inline script all still do their job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bookings import services
from tests.e2e.conftest import log_in
from tests.factories import ManagerFactory, ResultFactory, SessionFactory, StudentFactory
from tests.servers import daphne

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_manager_walks_the_main_pages_without_a_csp_violation(open_page, shot) -> None:
    manager = ManagerFactory(first_name="Bekzod", last_name="Tursunov")
    session = SessionFactory(capacity=5, starts_at=timezone.now() + timedelta(days=2))
    booking = services.book(session=session, student=StudentFactory(first_name="Dilnoza", last_name="Karimova"))
    result = ResultFactory()

    with daphne() as base:
        page = open_page(base)
        problems: list[str] = []
        page.on(
            "console",
            lambda message: (
                problems.append(f"{page.url}: {message.text}")
                if message.type in ("error", "warning") and "Failed to load resource" not in message.text
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
        frames: list[str] = []
        page.on("websocket", lambda socket: socket.on("framereceived", lambda payload: frames.append(str(payload))))

        log_in(page, manager)

        # Dashboard: the header, Chart.js drawing, Alpine's user menu, the command palette (htmx).
        response = page.goto("/admin/")
        assert "script-src" in response.headers["content-security-policy"]
        page.wait_for_function("() => window.Chart && Object.keys(Chart.instances).length > 0")
        page.get_by_text("Bekzod Tursunov").first.click()
        expect(page.get_by_text("Log out").first).to_be_visible()
        page.keyboard.press("Escape")
        page.wait_for_function("() => window.SeatdeskLive !== undefined")
        page.wait_for_function("() => document.querySelector('#sd-bell')?.dataset.unread !== undefined")
        shot(page, "csp-dashboard")

        # Bookings list and a booking's cancel dialog.
        page.goto("/admin/bookings/booking/")
        expect(page.get_by_text(booking.reference).first).to_be_visible()
        shot(page, "csp-bookings")
        page.goto(f"/admin/bookings/booking/{booking.pk}/change/")
        page.locator(f'a[href$="/{booking.pk}/cancel/"]').first.click()
        expect(page.locator("select[name=reason]")).to_be_visible()
        shot(page, "csp-cancel-dialog")

        # Calendar, month view.
        page.goto("/admin/bookings/session/calendar/")
        page.get_by_role("link", name="Month", exact=True).click()
        expect(page.locator("body")).to_contain_text(session.product.name)
        shot(page, "csp-calendar")

        # Import form.
        page.goto("/admin/bookings/booking/import/")
        expect(page.locator("input[type=file]").first).to_be_attached()
        shot(page, "csp-import")

        # Our own inline script (allowed by its nonce): the overall band follows the typed scores.
        page.goto(f"/admin/bookings/testresult/{result.pk}/change/")
        page.fill("#id_listening", "8")
        page.fill("#id_reading", "8")
        page.fill("#id_writing", "8")
        page.fill("#id_speaking", "8")
        expect(page.locator("[data-overall-preview]")).to_have_text("8.0")
        shot(page, "csp-result")

    assert any('"type": "hello"' in frame or '"type":"hello"' in frame for frame in frames), frames
    assert problems == []
