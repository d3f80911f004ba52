"""Browser tests: Playwright driving Debian's chromium against a live Django server.

Chromium comes from the operating system (``apt-get install -y chromium``; ``.ci/run`` installs it),
never from ``playwright install``. Without it the tests skip, or fail under REQUIRE_SERVICES=1.
Screenshots land in tests/e2e/screenshots/ (ignored by git) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password

CHROMIUM = os.environ.get("SEATDESK_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "e2e-password"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.e2e)


# Package scope: Playwright's sync API keeps an event loop on the main thread while it runs, and
# the async tests collected after this package (pytest-asyncio) need that thread free again.
@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls are
    # still plain synchronous code, which Django would otherwise refuse next to a running loop.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def open_page(browser) -> Iterator[object]:
    """Open a page in a fresh browser context (its own cookies) on ``base_url``."""
    contexts = []

    def open_page(base_url: str) -> object:
        context = browser.new_context(base_url=base_url, viewport={"width": 1440, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page, live_server) -> object:
    return open_page(live_server.url)


@pytest.fixture(autouse=True)
def _hashers_a_server_process_understands(settings) -> None:
    # A daphne process started by a test runs the project's own settings: PBKDF2, not the suite's
    # fast MD5. Logins made for a browser use PBKDF2 so both processes can check them.
    settings.PASSWORD_HASHERS = [*settings.PASSWORD_HASHERS, "django.contrib.auth.hashers.PBKDF2PasswordHasher"]


def log_in(page, user) -> None:
    """Log a user in through the real admin login form."""
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user.save(update_fields=["password"])
    page.goto("/admin/login/?next=/admin/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")


@pytest.fixture
def login(page):
    return lambda user: log_in(page, user)


@pytest.fixture
def shot():
    """Save a full-page PNG under tests/e2e/screenshots/ for a person to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def shot(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot


def book_through_the_admin(page, base: str, session, student) -> None:
    """Book ``student`` into ``session`` as a logged-in operator does: the add form's POST, with its CSRF token."""
    page.goto("/admin/bookings/booking/add/")
    token = page.input_value("input[name=csrfmiddlewaretoken]")
    response = page.request.post(
        "/admin/bookings/booking/add/",
        form={
            "csrfmiddlewaretoken": token,
            "session": str(session.pk),
            "student": str(student.pk),
            "payment_method": "cash",
            "_save": "Save",
        },
        headers={"Referer": f"{base}/admin/bookings/booking/add/"},
    )
    assert response.ok
