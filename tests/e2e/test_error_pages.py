"""The error pages in a real browser: styled, with a way home that works (issue 14)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import TutorFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_tutor_refused_a_page_finds_the_way_back_to_the_dashboard(page, login, shot):
    login(TutorFactory().user)

    response = page.goto("/admin/bookings/product/add/")

    assert response.status == 403
    expect(page.locator("[data-error-status] h1", has_text="Not allowed")).to_be_visible()
    shot(page, "error-403-tutor")
    page.get_by_role("link", name="Back to the dashboard").click()
    page.wait_for_url("**/admin/")


def test_a_visitor_on_a_dead_link_gets_a_styled_404(page, shot):
    response = page.goto("/admin-old/bookings/")

    assert response.status == 404
    expect(page.locator("[data-error-status] h1", has_text="Page not found")).to_be_visible()
    shot(page, "error-404-visitor")
    page.get_by_role("link", name="Back to the dashboard").click()
    page.wait_for_url("**/admin/login/**")
