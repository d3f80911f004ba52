"""An operator opening "All applications" finds Students but no Users (every account, staff with
their phones and e-mails) and no Staff; typing the Users address answers 403. A manager has both."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import SCREENSHOTS
from tests.factories import ManagerFactory, OperatorFactory

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = SCREENSHOTS  # tests/e2e/screenshots/ (ignored by git)


def all_applications(page):
    page.goto("/admin/")
    page.get_by_text("All applications", exact=True).click()
    panel = page.locator("[x-show=openAllApplications]")
    expect(panel.locator("h2").first).to_be_visible()
    return panel


@pytest.mark.parametrize("role", ["operator", "manager"])
def test_the_users_admin_is_in_all_applications_for_managers_only(page, login, role):
    login(OperatorFactory() if role == "operator" else ManagerFactory())

    panel = all_applications(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"3-all-applications-{role}.png"), full_page=True)

    users = panel.locator('a[href="/admin/backoffice/user/"]')
    students = panel.locator('a[href="/admin/backoffice/student/"]')
    expect(students).to_have_count(1)
    if role == "operator":
        expect(users).to_have_count(0)
        expect(panel.locator('a[href="/admin/backoffice/staff/"]')).to_have_count(0)
        expect(page.locator('#nav-sidebar-apps a[href="/admin/backoffice/user/"]')).to_have_count(0)
        response = page.goto("/admin/backoffice/user/")
        assert response.status == 403
        page.screenshot(path=str(SHOTS / "3-users-list-operator-403.png"), full_page=True)
    else:
        expect(users).to_have_count(1)
