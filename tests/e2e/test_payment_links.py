"""An operator on a pending booking's page, on daphne under the Content-Security-Policy: sees the
Click and Payme links, copies one with its button (the clipboard holds the link), and sends both to
the student with "Send payment link" (the SMS leaves through the SMS backend, the history says so)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bookings import services
from bookings.models import BookingEvent
from bookings.payments.links import payment_links
from tests.e2e.conftest import log_in
from tests.factories import OperatorFactory, SessionFactory, StudentFactory
from tests.servers import daphne_server

pytestmark = pytest.mark.django_db(transaction=True)

CREDENTIALS = {
    "CLICK_SERVICE_ID": "24680",
    "CLICK_MERCHANT_ID": "13579",
    "PAYME_MERCHANT_ID": "5e730e8e0b852a417aa49ceb",
    "PAYME_TEST_MODE": "0",
    "PAYMENT_RETURN_URL": "",
    "SMS_BACKEND": "console",  # daphne writes each SMS to its log
}


def test_an_operator_copies_a_payment_link_and_sends_both(open_page, shot, settings, monkeypatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)  # for the daphne process
        setattr(settings, name, value if name != "PAYME_TEST_MODE" else False)  # for the links expected here
    student = StudentFactory(first_name="Dilnoza", last_name="Karimova", phone="+998901234567")
    booking = services.book(session=SessionFactory(capacity=5), student=student)
    links = payment_links(booking)
    assert set(links) == {"click", "payme"}

    with daphne_server() as server:
        page = open_page(server.base)
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
        problems: list[str] = []
        # A CSP violation or a script error is a console error. (The browser's own /favicon.ico 404
        # is one too, but without a response event: the page's own requests are checked by status.)
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type in ("error", "warning") and "Failed to load resource" not in m.text
                else None
            ),
        )
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        log_in(page, OperatorFactory())

        page.goto(f"/admin/bookings/booking/{booking.pk}/change/")
        for provider in ("click", "payme"):
            expect(page.locator(f"#payment-link-{provider}")).to_have_value(links[provider])
        shot(page, "payment-links-booking")

        copy = page.locator('[data-copy-link="payment-link-payme"]')
        copy.click()
        expect(copy).to_contain_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == links["payme"]
        shot(page, "payment-links-copied")

        page.locator(f'a[href$="/{booking.pk}/send-link/"]').first.click()
        dialog_button = page.get_by_role("button", name="Send link")
        expect(dialog_button).to_be_visible()
        expect(page.get_by_text("+998901234567").first).to_be_visible()
        shot(page, "payment-links-send-dialog")
        dialog_button.click()
        expect(page.get_by_text(f"Payment link for {booking.reference} sent by SMS to +998901234567")).to_be_visible()
        shot(page, "payment-links-sent")
        daphne_log = server.stderr()

    assert problems == []
    assert BookingEvent.objects.filter(booking=booking, action="payment.link_sent").count() == 1
    assert f"SMS to +998901234567: Seatdesk: pay 350,000 UZS for booking {booking.reference}" in daphne_log
    assert links["payme"] in daphne_log
