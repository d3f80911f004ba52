"""The API's interactive docs (/api/v1/docs/) render in a browser under the site's
Content-Security-Policy, from files this server serves: no CDN, no violation, no script error."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_swagger_ui_renders_every_area_without_a_csp_violation(page, live_server, shot) -> None:
    problems: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None)

    response = page.goto("/api/v1/docs/")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_text("Seatdesk API").first).to_be_visible()
    for tag in ("auth", "bookings", "catalog", "profile"):
        expect(page.locator(f"#operations-tag-{tag}")).to_be_visible()
    expect(page.get_by_text("/api/v1/bookings/{reference}/cancel/").first).to_be_visible()
    shot(page, "api-docs")
    assert problems == []
    assert outside == []
