"""Someone whose browser is in another zone (a tutor in London) no longer gets Django's red "Note: You
are N hours behind server time." beside every date-time input; the input says plainly which zone
its time is read in ("Times in Asia/Tashkent")."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.conftest import SCREENSHOTS, log_in
from tests.factories import ManagerFactory

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = SCREENSHOTS  # tests/e2e/screenshots/ (ignored by git)


def open_in_zone(browser, base_url: str, zone: str):
    context = browser.new_context(base_url=base_url, viewport={"width": 1440, "height": 900}, timezone_id=zone)
    context.set_default_timeout(10_000)
    return context, context.new_page()


def test_a_browser_in_london_sees_the_zone_label_and_no_server_time_warning(browser, live_server):
    context, page = open_in_zone(browser, live_server.url, "Europe/London")
    try:
        log_in(page, ManagerFactory())
        page.goto("/admin/bookings/session/add/")
        time_input = page.locator("input.vTimeField").first
        expect(time_input).to_be_visible()
        assert page.evaluate("() => new Date().getTimezoneOffset()") in (0, -60)  # London, not Tashkent

        label = page.locator(".sd-zone-label").first
        expect(label).to_have_text(f"Times in {timezone.get_default_timezone_name()}")
        expect(page.locator(".timezonewarning")).to_have_count(0)
        expect(page.locator("body")).not_to_contain_text("server time")
        # One label per date-time (beside its time), none beside a plain date.
        assert page.locator(".sd-zone-label").count() == page.locator("input.vTimeField[name$='_1']").count()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "4-zone-label-london.png"), full_page=True)
    finally:
        context.close()


def test_a_browser_in_the_centres_zone_gets_neither(browser, live_server):
    context, page = open_in_zone(browser, live_server.url, timezone.get_default_timezone_name())
    try:
        log_in(page, ManagerFactory())
        page.goto("/admin/bookings/session/add/")
        expect(page.locator("input.vTimeField").first).to_be_visible()
        page.wait_for_load_state("load")

        expect(page.locator(".sd-zone-label")).to_have_count(0)
        expect(page.locator(".timezonewarning")).to_have_count(0)
    finally:
        context.close()
