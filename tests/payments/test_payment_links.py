"""payment_links: Click's payment page and Payme's checkout for what a booking still owes."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from bookings import services
from bookings.models import CancelReason
from bookings.payments.links import payment_links
from tests.factories import StudentFactory
from tests.payments import protocol

pytestmark = pytest.mark.django_db


def payme_params(url: str, host: str = "https://checkout.paycom.uz/") -> dict[str, str]:
    assert url.startswith(host)
    decoded = base64.b64decode(url.removeprefix(host), validate=True).decode()
    return dict(part.split("=", 1) for part in decoded.split(";"))


def click_params(url: str) -> dict[str, list[str]]:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "my.click.uz", "/services/pay")
    return parse_qs(parts.query, strict_parsing=True)


def test_it_links_a_pending_booking_to_both_providers_for_what_it_owes(booking, settings):
    links = payment_links(booking, return_url="https://centre.example/paid")

    assert set(links) == {"click", "payme"}
    assert click_params(links["click"]) == {
        "service_id": [protocol.CLICK_SERVICE_ID],
        "merchant_id": [settings.CLICK_MERCHANT_ID],
        "amount": ["350000.00"],
        "transaction_param": [booking.reference],
        "return_url": ["https://centre.example/paid"],
    }
    assert payme_params(links["payme"]) == {
        "m": settings.PAYME_MERCHANT_ID,
        "ac.booking": booking.reference,
        "a": "35000000",  # tiyin
        "c": "https://centre.example/paid",
    }


def test_it_asks_only_for_what_is_left_after_a_part_payment(booking):
    services.record_payment(booking, provider="cash", amount="50000")

    links = payment_links(booking)

    assert click_params(links["click"])["amount"] == ["300000.00"]
    assert payme_params(links["payme"])["a"] == "30000000"


def test_it_takes_the_return_url_from_the_settings_and_leaves_it_out_when_empty(booking, settings):
    settings.PAYMENT_RETURN_URL = ""
    links = payment_links(booking)
    assert "return_url" not in click_params(links["click"])
    assert "c" not in payme_params(links["payme"])

    settings.PAYMENT_RETURN_URL = "https://centre.example/thanks?booking=1;x"
    links = payment_links(booking)
    assert click_params(links["click"])["return_url"] == ["https://centre.example/thanks?booking=1;x"]
    # ";" separates Payme's parameters: it is percent-encoded inside the return URL.
    assert payme_params(links["payme"])["c"] == "https://centre.example/thanks?booking=1%3Bx"


def test_it_uses_the_sandbox_checkout_in_test_mode(booking, settings):
    settings.PAYME_TEST_MODE = True
    url = payment_links(booking)["payme"]
    assert payme_params(url, host="https://test.paycom.uz/")["ac.booking"] == booking.reference


def test_it_leaves_out_a_provider_that_is_not_set_up(booking, settings):
    settings.CLICK_MERCHANT_ID = ""
    assert set(payment_links(booking)) == {"payme"}
    settings.PAYME_MERCHANT_ID = ""
    assert payment_links(booking) == {}


def test_it_gives_no_links_for_a_paid_or_cancelled_booking(booking):
    paid = services.record_payment(booking, provider="cash", amount=booking.price).booking
    assert payment_links(paid) == {}

    other = services.book(session=booking.session, student=StudentFactory())
    services.cancel(other, reason=CancelReason.STAFF)
    assert payment_links(other) == {}


def test_a_link_pays_through_the_callbacks_with_the_amount_it_names(client, booking):
    """What the Click link says is what Prepare then carries and signs: the callbacks accept it."""
    amount = click_params(payment_links(booking)["click"])["amount"][0]

    prepared = protocol.click(client, "prepare", protocol.click_form(booking.reference, stage="prepare", amount=amount))
    assert prepared["error"] == 0
    completed = protocol.click(
        client,
        "complete",
        protocol.click_form(
            booking.reference, stage="complete", amount=amount, prepare_id=prepared["merchant_prepare_id"]
        ),
    )
    assert completed["error"] == 0
    booking.refresh_from_db()
    assert booking.status == "confirmed"


def _confirmed_owing(booking):
    return services.confirm(booking)  # confirmed by staff before the money came


def _expired_seat_free(booking):
    services.expire_due()
    return booking


def _expired_seat_gone(booking):
    services.expire_due()
    session = booking.session
    session.refresh_from_db()
    for _ in range(session.seats_left):
        services.book(session=session, student=StudentFactory())
    return booking


def _cancelled_by_staff(booking):
    return services.cancel(booking, reason=CancelReason.STAFF)


def _paid_in_cash(booking):
    return services.record_payment(booking, provider="cash", amount=booking.price).booking


@pytest.mark.parametrize(
    ("situation", "offered"),
    [
        (_confirmed_owing, True),
        (_expired_seat_free, True),  # paying re-books it: the late-payment rule
        (_expired_seat_gone, False),
        (_cancelled_by_staff, False),
        (_paid_in_cash, False),
    ],
)
def test_links_are_offered_exactly_when_clicks_prepare_would_take_the_money(client, booking, situation, offered):
    """One rule (selectors.online_payment_refusal) for the links, the admin's "Send payment link"
    and the providers' callbacks: a link is never offered that the callback would then refuse."""
    from bookings.admin.booking_actions import SendPaymentLinkForm

    with time_machine.travel(booking.expires_at + timedelta(minutes=5)):
        booking = situation(booking)
        booking.refresh_from_db()
        links = payment_links(booking)
        prepared = protocol.click(client, "prepare", protocol.click_form(booking.reference, stage="prepare"))
        assert bool(links) is offered
        assert (prepared["error"] == 0) is offered
        assert SendPaymentLinkForm.offered_for(booking) is offered
