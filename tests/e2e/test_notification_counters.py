"""One unread count on a tutor's page: after a live toast the bell, the sidebar badge and the
workspace card all say the same; Mark all read (in the bell's menu) takes all three to 0, and the
menu's notification opens its booking. Served by daphne (WebSockets); the operator's booking is
made in the same server process, so this runs on the embedded in-memory layer as well."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bookings.models import Booking
from realtime.models import Notification
from tests.e2e.conftest import SCREENSHOTS, book_through_the_admin, log_in
from tests.factories import OperatorFactory, SessionFactory, StudentFactory, TutorFactory
from tests.servers import daphne

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = SCREENSHOTS  # tests/e2e/screenshots/ (ignored by git)
COUNTERS = """() => ({
    bell: document.querySelector('#sd-bell').getAttribute('data-unread'),
    bellFigure: document.querySelector('#sd-bell [data-unread-count]').textContent.trim(),
    bellShown: getComputedStyle(document.querySelector('#sd-bell [data-unread-count]')).display !== 'none',
    sidebar: document.querySelector('#nav-sidebar-apps [data-unread-count]').textContent.trim(),
    sidebarShown: getComputedStyle(document.querySelector('#nav-sidebar-apps [data-unread-count]')).display !== 'none',
    card: document.querySelector('#sd-workspace-unread').textContent.trim(),
})"""


def counters(page) -> dict:
    return page.evaluate(COUNTERS)


def agreeing(count: int) -> dict:
    shown = count > 0
    return {
        "bell": str(count),
        "bellFigure": str(count),
        "bellShown": shown,
        "sidebar": str(count),
        "sidebarShown": shown,
        "card": str(count),
    }


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_bell_the_sidebar_badge_and_the_workspace_card_agree_live_and_after_mark_all_read(open_page):
    tutor = TutorFactory()
    session = SessionFactory(tutor=tutor, capacity=4)
    for i in range(2):  # unread ones from before the page opened
        Notification.objects.create(recipient=tutor.user, type="booking.reminder", title=f"Reminder {i}")
    operator = OperatorFactory()

    with daphne() as base:
        tutor_page = open_page(base)
        log_in(tutor_page, tutor.user)
        tutor_page.wait_for_function("() => window.SeatdeskLive !== undefined")
        expect(tutor_page.locator("#sd-bell")).to_have_attribute("data-unread", "2")
        assert counters(tutor_page) == agreeing(2)

        operator_page = open_page(base)
        log_in(operator_page, operator)
        for name in ("Dilnoza", "Aziz"):
            book_through_the_admin(operator_page, base, session, StudentFactory(first_name=name))
            expect(tutor_page.locator("#sd-toasts .sd-toast").filter(has_text=name)).to_be_visible()
        expect(tutor_page.locator("#sd-bell")).to_have_attribute("data-unread", "4")
        assert counters(tutor_page) == agreeing(4)
        shot(tutor_page, "1-counters-agree-after-live-toasts")

        # The bell opens its menu: words, local times, a link to the booking; then Mark all read.
        tutor_page.click("#sd-bell")
        menu = tutor_page.locator("#sd-bell-menu")
        expect(menu).to_be_visible()
        newest = Booking.objects.filter(session=session).order_by("-pk").first()
        open_booking = menu.locator("a.sd-open-target").filter(has_text=newest.reference)
        expect(open_booking).to_have_attribute("href", f"/admin/bookings/booking/{newest.pk}/change/")
        expect(menu).not_to_contain_text("booking.created")
        shot(tutor_page, "1-bell-menu")
        menu.get_by_role("button", name="Mark all read").click()

        tutor_page.wait_for_url("**/admin/")
        expect(tutor_page.locator("body")).to_contain_text("4 notifications marked as read.")
        tutor_page.wait_for_function("() => window.SeatdeskLive !== undefined")
        assert counters(tutor_page) == agreeing(0)
        assert not Notification.objects.filter(recipient=tutor.user, read=False).exists()
        shot(tutor_page, "1-counters-zero-after-mark-all-read")

        # The next live event counts from 0 on all three again.
        book_through_the_admin(operator_page, base, session, StudentFactory(first_name="Malika"))
        expect(tutor_page.locator("#sd-bell")).to_have_attribute("data-unread", "1")
        assert counters(tutor_page) == agreeing(1)

        tutor_page.click("#sd-bell")
        tutor_page.locator("#sd-bell-menu a.sd-open-target").first.click()
        tutor_page.wait_for_url("**/admin/bookings/booking/*/change/")
        expect(tutor_page.locator("body")).to_contain_text("Malika")

        # The list and a notification's page speak words and local 24-hour times, not codes, UTC or JSON.
        tutor_page.goto("/admin/realtime/notification/")
        table = tutor_page.locator("#result_list")
        expect(table).to_contain_text("New booking")
        expect(table).to_contain_text(f"Open booking {newest.reference}")
        assert "booking.created" not in table.inner_text()
        assert re.search(r"\d{2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}", table.inner_text())
        assert "a.m." not in table.inner_text() and "p.m." not in table.inner_text()
        expect(tutor_page.locator("#sd-mark-all-read")).to_be_visible()
        shot(tutor_page, "2-notifications-list")
        tutor_page.goto(
            f"/admin/realtime/notification/{Notification.objects.filter(recipient=tutor.user).first().pk}/change/"
        )
        body = tutor_page.locator("#content")
        expect(body).to_contain_text("Session starts")
        expect(body).to_contain_text("Pending payment")
        assert "{" not in body.inner_text() and "booking.created" not in body.inner_text()
        shot(tutor_page, "2-notification-page")
