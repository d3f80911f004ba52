"""First contact with the back office in a browser: the login page takes typing at once, and the
icon-only action links of a list read as their actions, not as icon names (issue 14)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import OperatorFactory, SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_login_page_puts_the_cursor_in_the_username_field(page, shot):
    page.goto("/admin/login/")
    page.wait_for_load_state("load")

    expect(page.locator("#id_username")).to_be_focused()
    page.keyboard.type("operator")  # no click first
    expect(page.locator("#id_username")).to_have_value("operator")
    shot(page, "login-focused")


def test_the_row_action_icons_are_named_by_their_actions(page, login, shot):
    from bookings import services

    booking = services.book(session=SessionFactory(), student=StudentFactory())
    login(OperatorFactory())

    page.goto("/admin/bookings/booking/")

    row = page.locator("#result_list tbody tr", has_text=booking.reference)
    expect(row.get_by_role("link", name="Confirm booking", exact=True)).to_be_visible()
    expect(row.get_by_role("link", name="Cancel booking", exact=True)).to_be_visible()
    assert row.get_by_role("link", name="check_circle").count() == 0
    shot(page, "bookings-row-actions")
