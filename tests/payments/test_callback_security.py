"""What every callback URL does with calls that are not what the provider sends: always the provider's
own error format, HTTP 200 JSON, never a 500 or an HTML page, no cookie, no CSRF token, nothing read
from the database before the caller is proven."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from bookings.models import Payment, PaymentLog
from tests.payments.protocol import CLICK_URLS, FORM, PAYME_URL, basic, click, click_form, payme, payme_raw

pytestmark = pytest.mark.django_db

PRICE = 35_000_000


def rpc_error(response) -> int:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]["code"]


# --- Payme transport -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_payme_answers_minus_32300_to_anything_but_post(client, method):
    response = getattr(client, method)(PAYME_URL)
    assert rpc_error(response) == -32300


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer x", "Basic !!!", basic("payme-production-key-0123456789abcdef", login="Other"), basic("wrong")],
)
def test_payme_answers_minus_32504_without_the_right_credentials(client, booking, header, django_assert_num_queries):
    body = json.dumps({"id": 7, "method": "CheckPerformTransaction", "params": {"amount": PRICE, "account": {}}})
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    with django_assert_num_queries(1):  # the log row only: nothing read
        response = client.post(PAYME_URL, data=body, content_type="application/json", **extra)
    assert rpc_error(response) == -32504
    assert response.json()["id"] == 7


def test_payme_refuses_everyone_when_no_key_is_set(client, booking, settings):
    settings.PAYME_KEY = ""
    answer = payme(
        client, "CheckPerformTransaction", {"amount": PRICE, "account": {"booking": booking.reference}}, key=""
    )
    assert answer["error"]["code"] == -32504


def test_payme_checks_credentials_before_parsing(client):
    assert rpc_error(payme_raw(client, b"{not json", key="wrong")) == -32504


@pytest.mark.parametrize(
    "body", [b"{not json", b"\xff\xfe\x00", b"", b'{"id": 1, "method": "X", "params": NaN}', b"[" * 5000]
)
def test_payme_answers_minus_32700_to_a_body_that_is_not_json(client, body):
    assert rpc_error(payme_raw(client, body)) == -32700


@pytest.mark.parametrize(
    "payload",
    [
        [],
        [{"method": "CheckTransaction"}],
        {"params": {}},
        {"method": 5, "params": {}},
        {"method": "CheckTransaction"},
        {"method": "CheckTransaction", "params": []},
        {"method": "CheckTransaction", "params": {}},
        {"method": "CheckTransaction", "params": {"id": 5}},
        {"method": "CheckTransaction", "params": {"id": "x" * 65}},
        {"method": "CreateTransaction", "params": {"id": "a" * 24, "time": "now", "amount": PRICE, "account": {}}},
        {"method": "CreateTransaction", "params": {"id": "a" * 24, "time": 10**40, "amount": PRICE, "account": {}}},
        {"method": "CreateTransaction", "params": {"id": "a" * 24, "time": 1, "amount": "100", "account": {}}},
        {"method": "CreateTransaction", "params": {"id": "a" * 24, "time": 1, "amount": True, "account": {}}},
        {"method": "CancelTransaction", "params": {"id": "a" * 24, "reason": "5"}},
        {"method": "CancelTransaction", "params": {"id": "a" * 24, "reason": 10**30}},
        {"method": "GetStatement", "params": {"from": 1}},
        {"method": "GetStatement", "params": {"from": -1, "to": 5}},
    ],
)
def test_payme_answers_minus_32600_to_missing_or_mistyped_fields(client, db, payload):
    assert rpc_error(payme_raw(client, json.dumps(payload))) == -32600


def test_payme_answers_minus_31001_to_huge_or_fractional_amounts(client, booking):
    for amount in (10**40, 1e300, 0.5, -100, 0):
        params = {"amount": amount, "account": {"booking": booking.reference}}
        assert payme(client, "CheckPerformTransaction", params)["error"]["code"] == -31001


def test_payme_answers_minus_32601_naming_an_unknown_method(client):
    answer = payme(client, "ChangePassword", {"password": "new-secret"})
    assert (answer["error"]["code"], answer["error"]["data"]) == (-32601, "ChangePassword")
    log = PaymentLog.objects.get()
    assert log.request["params"]["password"] == "[redacted]"


def test_payme_answers_minus_32400_when_our_side_fails(client, booking, monkeypatch):
    from bookings.payments import payme as payme_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setitem(payme_module.METHODS, "CheckPerformTransaction", broken)
    answer = payme(client, "CheckPerformTransaction", {"amount": PRICE, "account": {"booking": booking.reference}})
    assert answer["error"]["code"] == -32400


def test_payme_echoes_string_ids_and_answers_null_for_an_unreadable_one(client):
    assert payme(client, "CheckTransaction", {"id": "a" * 24}, request_id="abc")["id"] == "abc"
    response = payme_raw(client, json.dumps({"id": {"x": 1}, "method": "CheckTransaction", "params": {"id": "a"}}))
    assert response.json()["id"] is None


def test_payme_takes_a_wrong_content_type_as_what_the_body_is(client, booking):
    """Payme's contract is the JSON body; a form content type does not turn it into an HTML error."""
    body = json.dumps({"id": 1, "method": "CheckPerformTransaction", "params": {"amount": PRICE, "account": {}}})
    response = client.post(PAYME_URL, data=body, content_type=FORM, HTTP_AUTHORIZATION=basic(_key()))
    assert rpc_error(response) == -31050


def _key() -> str:
    from tests.payments.protocol import PAYME_KEY

    return PAYME_KEY


# --- Click transport ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["prepare", "complete"])
def test_click_answers_minus_8_to_a_get(client, stage):
    response = client.get(CLICK_URLS[stage])
    assert response.status_code == 200
    assert response.json() == {"error": -8, "error_note": "Error in request from click"}


def test_click_answers_minus_8_to_a_json_body_or_a_repeated_field(client, booking):
    form = click_form(booking.reference, stage="prepare")
    response = client.post(CLICK_URLS["prepare"], data=json.dumps(form), content_type="application/json")
    assert response.json()["error"] == -8
    body = urlencode(form) + "&amount=1"
    assert client.post(CLICK_URLS["prepare"], data=body, content_type=FORM).json()["error"] == -8
    bad_utf8 = urlencode(form).encode() + b"&x=%ff\xff"
    assert client.post(CLICK_URLS["prepare"], data=bad_utf8, content_type=FORM).json()["error"] == -8


def test_click_answers_minus_8_to_a_multipart_form(client, booking):
    response = client.post(CLICK_URLS["prepare"], data=click_form(booking.reference, stage="prepare"))
    assert response.json()["error"] == -8


# --- Both ------------------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_in_each_providers_format(client, booking, settings):
    settings.PAYMENT_MAX_BODY_BYTES = 2048
    padding = "x" * 3000
    form = click_form(booking.reference, stage="prepare", error_note=padding)
    assert click(client, "prepare", form)["error"] == -8
    big = json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": padding}})
    assert rpc_error(payme_raw(client, big)) == -32600
    assert not Payment.objects.exists()
    assert PaymentLog.objects.filter(request={"body": "over the size limit"}).count() == 2


def test_the_callbacks_need_no_csrf_token_and_set_no_cookie(booking):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        CLICK_URLS["prepare"], data=urlencode(click_form(booking.reference, stage="prepare")), content_type=FORM
    )
    assert response.json()["error"] == 0
    assert not response.cookies
    assert "Set-Cookie" not in response.headers
    assert "no-cache" in response["Cache-Control"]
    body = json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": "a" * 24}})
    response = payme_raw(strict, body)
    assert response.json()["error"]["code"] == -31003
    assert not response.cookies


def test_the_allow_list_refuses_other_addresses_in_each_providers_format(client, booking, settings):
    settings.PAYMENT_ALLOWED_IPS = ["185.234.113.0/28"]
    form = urlencode(click_form(booking.reference, stage="prepare"))
    refused = client.post(CLICK_URLS["prepare"], data=form, content_type=FORM, REMOTE_ADDR="10.0.0.1")
    assert refused.json()["error"] == -8
    body = json.dumps({"id": 3, "method": "CheckTransaction", "params": {"id": "a" * 24}})
    assert rpc_error(payme_raw(client, body, REMOTE_ADDR="10.0.0.1")) == -32504
    # A forwarded-for header is not trusted unless a proxy header is configured.
    assert rpc_error(payme_raw(client, body, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="185.234.113.5")) == -32504

    allowed = client.post(CLICK_URLS["prepare"], data=form, content_type=FORM, REMOTE_ADDR="185.234.113.5")
    assert allowed.json()["error"] == 0
    assert rpc_error(payme_raw(client, body, REMOTE_ADDR="::ffff:185.234.113.5")) == -31003


def test_the_allow_list_reads_the_address_our_proxy_appended(client, settings):
    settings.PAYMENT_ALLOWED_IPS = ["185.234.113.1"]
    settings.PAYMENT_CLIENT_IP_HEADER = "X-Forwarded-For"
    body = json.dumps({"id": 3, "method": "CheckTransaction", "params": {"id": "a" * 24}})
    spoofed = {"HTTP_X_FORWARDED_FOR": "185.234.113.1, 203.0.113.9"}  # the caller wrote the first one
    assert rpc_error(payme_raw(client, body, **spoofed)) == -32504
    proxied = {"HTTP_X_FORWARDED_FOR": "203.0.113.9, 185.234.113.1"}
    assert rpc_error(payme_raw(client, body, **proxied)) == -31003
    assert PaymentLog.objects.order_by("pk").last().remote_addr == "185.234.113.1"


def test_the_urls_answer_without_their_trailing_slash(client, booking):
    form = urlencode(click_form(booking.reference, stage="prepare"))
    assert client.post("/payments/click/prepare", data=form, content_type=FORM).json()["error"] == 0
    body = json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": "a" * 24}})
    assert rpc_error(payme_raw(client, body, url="/payments/payme")) == -31003
