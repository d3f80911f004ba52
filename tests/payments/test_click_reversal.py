"""A Click refund: our call to Click's Merchant API payment reversal, against a local stand-in for Click.

pytest-httpserver plays Click (never the internet): each test asserts what we sent -- the method,
the path, the headers, the Auth digest -- and what we made of Click's answer.
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
import time

import pytest
from django.db import connection
from werkzeug import Response

from bookings.errors import BookingNotAllowed
from bookings.models import Booking, BookingStatus, Payment, PaymentLog, PaymentStatus, Session
from bookings.payments import click_merchant
from bookings.payments.click_merchant import ClickRefundFailed, reverse_payment
from tests.factories import ManagerFactory
from tests.payments import protocol
from tests.servers import free_port

pytestmark = pytest.mark.django_db

CLICK_TRANS_ID = "7001"
REVERSAL_PATH = f"/v2/merchant/payment/reversal/{protocol.CLICK_SERVICE_ID}/{CLICK_TRANS_ID}"
AUTH = re.compile(r"(?P<user>\d+):(?P<digest>[0-9a-f]{40}):(?P<stamp>\d{10})")


@pytest.fixture
def click_api(httpserver, settings):
    """Our settings pointed at the local stand-in for api.click.uz."""
    settings.CLICK_API_URL = httpserver.url_for("/v2/merchant")
    settings.CLICK_API_TIMEOUT = 5
    return httpserver


@pytest.fixture
def manager(db):
    return ManagerFactory()


def pay_by_click(client, booking) -> Payment:
    """Prepare and Complete through the real callback URLs, as Click does."""
    prepared = protocol.click(
        client, "prepare", protocol.click_form(booking.reference, stage="prepare", click_trans_id=CLICK_TRANS_ID)
    )
    completed = protocol.click(
        client,
        "complete",
        protocol.click_form(
            booking.reference,
            stage="complete",
            click_trans_id=CLICK_TRANS_ID,
            prepare_id=prepared["merchant_prepare_id"],
        ),
    )
    assert completed["error"] == 0
    return Payment.objects.get(provider="click", provider_txn_id=CLICK_TRANS_ID)


@pytest.fixture
def paid(client, booking):
    return pay_by_click(client, booking)


def the_request(httpserver):
    assert len(httpserver.log) == 1, "exactly one call to Click"
    return httpserver.log[0][0]


def assert_nothing_changed(payment: Payment) -> None:
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount, payment.refund_requested_at) == (PaymentStatus.PAID, 0, None)
    booking = Booking.objects.get(pk=payment.booking_id)
    assert booking.status == BookingStatus.CONFIRMED
    assert Session.objects.get(pk=booking.session_id).seats_taken == 1
    assert not booking.events.filter(action="payment.refunded").exists()


def test_it_sends_clicks_reversal_request_with_the_auth_header(click_api, paid, manager, settings):
    click_api.expect_oneshot_request(REVERSAL_PATH, method="DELETE").respond_with_json(
        {"error_code": 0, "error_note": "Успешно", "payment_id": int(CLICK_TRANS_ID)}
    )
    before = int(time.time())

    reverse_payment(paid, reason="Student moved abroad", actor=manager)

    request = the_request(click_api)
    assert (request.method, request.path) == ("DELETE", REVERSAL_PATH)
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert request.get_data() == b""
    auth = AUTH.fullmatch(request.headers["Auth"])
    assert auth is not None, request.headers["Auth"]
    assert auth["user"] == settings.CLICK_MERCHANT_USER_ID
    assert before <= int(auth["stamp"]) <= int(time.time())
    assert auth["digest"] == hashlib.sha1((auth["stamp"] + protocol.CLICK_SECRET_KEY).encode()).hexdigest()


def test_a_reversal_click_confirms_is_recorded_as_a_full_refund(click_api, paid, manager, mailoutbox):
    click_api.expect_oneshot_request(REVERSAL_PATH, method="DELETE").respond_with_json(
        {"error_code": 0, "error_note": "Успешно", "payment_id": int(CLICK_TRANS_ID)}
    )

    refunded = reverse_payment(paid, reason="Student moved abroad", actor=manager)

    assert (refunded.status, refunded.refunded_amount) == (PaymentStatus.REFUNDED, refunded.amount)
    assert (paid.status, paid.refunded_amount) == (PaymentStatus.REFUNDED, refunded.amount)  # the caller's copy too
    booking = Booking.objects.get(pk=paid.booking_id)
    assert booking.status == BookingStatus.CANCELLED
    assert Session.objects.get(pk=booking.session_id).seats_taken == 0
    event = booking.events.get(action="payment.refunded")
    assert event.actor == manager
    assert event.data["reason"] == "Student moved abroad (reversed by Click)"
    log = PaymentLog.objects.get(action="reversal")
    assert (log.provider, log.payment_id, log.booking_reference, log.error) == (
        "click",
        paid.pk,
        booking.reference,
        None,
    )
    assert log.request["method"] == "DELETE" and log.request["url"].endswith(REVERSAL_PATH)
    user, secret, stamp = log.request["headers"]["Auth"].split(":")
    assert (user, secret) == ("11", "[redacted]") and stamp.isdigit()
    assert log.response == {"status": 200, "body": {"error_code": 0, "error_note": "Успешно", "payment_id": 7001}}


def test_a_refusal_by_click_changes_nothing_and_says_why(click_api, paid, manager):
    click_api.expect_oneshot_request(REVERSAL_PATH, method="DELETE").respond_with_json(
        {"error_code": -5017, "error_note": "Payment was already cancelled"}
    )

    with pytest.raises(ClickRefundFailed, match=r"error -5017: Payment was already cancelled\). Nothing was refunded"):
        reverse_payment(paid, reason="Student moved abroad", actor=manager)

    assert_nothing_changed(paid)
    log = PaymentLog.objects.get(action="reversal")
    assert log.error == -5017 and log.response["body"]["error_note"] == "Payment was already cancelled"


def test_an_http_error_from_click_changes_nothing(click_api, paid, manager):
    click_api.expect_oneshot_request(REVERSAL_PATH, method="DELETE").respond_with_data(
        "<html>Internal Server Error</html>", status=500, content_type="text/html"
    )

    with pytest.raises(ClickRefundFailed, match="Click answered HTTP 500"):
        reverse_payment(paid, reason="Student moved abroad", actor=manager)

    assert_nothing_changed(paid)
    log = PaymentLog.objects.get(action="reversal")
    assert log.response == {"status": 500, "body": {"raw": "<html>Internal Server Error</html>"}}


def test_an_answer_with_error_code_0_but_not_http_200_is_not_a_reversal(click_api, paid, manager):
    click_api.expect_oneshot_request(REVERSAL_PATH, method="DELETE").respond_with_json({"error_code": 0}, status=503)
    with pytest.raises(ClickRefundFailed, match="HTTP 503"):
        reverse_payment(paid, reason="Student moved abroad", actor=manager)
    assert_nothing_changed(paid)


def test_an_unreadable_answer_changes_nothing_and_says_to_check_at_click(click_api, paid, manager):
    click_api.expect_oneshot_request(REVERSAL_PATH, method="DELETE").respond_with_data("OK", status=200)
    with pytest.raises(ClickRefundFailed, match=r"could not be read.*merchant cabinet"):
        reverse_payment(paid, reason="Student moved abroad", actor=manager)
    assert_nothing_changed(paid)


def test_no_answer_within_the_timeout_changes_nothing(click_api, paid, manager, settings):
    released = threading.Event()

    def hang(request):
        released.wait(timeout=30)  # until the test is over: the client must have given up long before
        return Response('{"error_code": 0}', content_type="application/json")

    click_api.expect_oneshot_request(REVERSAL_PATH, method="DELETE").respond_with_handler(hang)
    settings.CLICK_API_TIMEOUT = 0.5
    try:
        with pytest.raises(ClickRefundFailed, match=r"did not answer within 0.5 seconds.*merchant cabinet"):
            reverse_payment(paid, reason="Student moved abroad", actor=manager)
    finally:
        released.set()

    assert_nothing_changed(paid)
    assert PaymentLog.objects.get(action="reversal").response == {"error": "timed out"}


def test_a_click_it_cannot_reach_changes_nothing(paid, manager, settings):
    settings.CLICK_API_URL = f"http://127.0.0.1:{free_port()}/v2/merchant"  # nobody listens there

    with pytest.raises(ClickRefundFailed, match=r"Click could not be reached .*Nothing was refunded"):
        reverse_payment(paid, reason="Student moved abroad", actor=manager)

    assert_nothing_changed(paid)


@pytest.mark.parametrize("missing", ["CLICK_MERCHANT_USER_ID", "CLICK_SECRET_KEY"])
def test_it_calls_nobody_without_its_credentials(click_api, paid, manager, settings, missing):
    setattr(settings, missing, "")
    with pytest.raises(BookingNotAllowed, match=missing):
        reverse_payment(paid, reason="Student moved abroad", actor=manager)
    assert click_api.log == []
    assert_nothing_changed(paid)


def test_it_refuses_what_click_cannot_reverse_without_calling_it(click_api, client, booking, manager):
    with pytest.raises(BookingNotAllowed, match="why"):
        reverse_payment(pay_by_click(client, booking), reason=" ", actor=manager)
    cash = Payment.objects.create(booking=booking, provider="cash", amount=1, status="paid")
    with pytest.raises(BookingNotAllowed, match="Only a Click payment"):
        reverse_payment(cash, reason="test", actor=manager)
    assert click_api.log == []


def test_a_claim_left_by_a_call_that_never_ended_blocks_a_second_call_until_it_is_stale(click_api, paid, manager):
    click_api.expect_request(REVERSAL_PATH, method="DELETE").respond_with_json({"error_code": 0})
    Payment.objects.filter(pk=paid.pk).update(refund_requested_at=click_merchant.timezone.now())

    with pytest.raises(BookingNotAllowed, match="already under way"):
        reverse_payment(paid, reason="again", actor=manager)
    assert click_api.log == []

    stale = click_merchant.timezone.now() - click_merchant.STALE_CLAIM - click_merchant.timedelta(seconds=1)
    Payment.objects.filter(pk=paid.pk).update(refund_requested_at=stale)
    assert reverse_payment(paid, reason="again", actor=manager).status == PaymentStatus.REFUNDED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_managers_refunding_at_once_call_click_once(click_api, client, booking):
    """The first claims the payment and waits on Click; the second, meanwhile, is told it is under way."""
    payment = pay_by_click(client, booking)
    managers = [ManagerFactory(), ManagerFactory()]
    in_click = threading.Event()
    released = threading.Event()

    def slow_click(request):
        in_click.set()
        released.wait(timeout=30)
        return Response('{"error_code": 0, "error_note": "Success"}', content_type="application/json")

    click_api.expect_request(REVERSAL_PATH, method="DELETE").respond_with_handler(slow_click)
    outcomes: queue.Queue = queue.Queue()

    def refund_as(manager):
        try:
            outcomes.put(reverse_payment(Payment.objects.get(pk=payment.pk), reason="twice?", actor=manager).status)
        except BookingNotAllowed as exc:
            outcomes.put(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=refund_as, args=(manager,)) for manager in managers]
    for thread in threads:
        thread.start()
    try:
        first = outcomes.get(timeout=30)  # the loser, refused while the winner cannot have finished
        assert in_click.wait(timeout=30)
    finally:
        released.set()
    second = outcomes.get(timeout=30)
    for thread in threads:
        thread.join(timeout=30)

    assert "already under way" in first
    assert second == PaymentStatus.REFUNDED
    assert len(click_api.log) == 1
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, payment.amount)
    assert Booking.objects.get(pk=booking.pk).events.filter(action="payment.refunded").count() == 1
