"""The callbacks' own front on the ASGI server (bookings.payments.asgi): what every response gets --
the https redirect, the security headers, the NUL-byte guard -- and no thread hop between daphne's
event loop and the callback's view. Through the project's ASGI application, as daphne calls it."""

from __future__ import annotations

import json
import logging
import traceback
from urllib.parse import urlencode

import pytest
from asgiref.testing import ApplicationCommunicator
from django.http import JsonResponse
from django.test import Client

from backoffice.asgi import application, django_asgi_app
from bookings.models import PaymentLog
from bookings.payments import views
from bookings.payments.asgi import with_callbacks
from tests.payments.protocol import CLICK_URLS, FORM, PAYME_URL, basic, click_form, payme_raw

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
BODY = json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": "a" * 24}}).encode()


async def call(
    method: str, path: str, body: bytes = b"", *, headers=(), scheme: str = "http", query: bytes = b"", app=application
):
    """One request to the ASGI application; its status, headers and body (None if it never answered)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode()) for k, v in headers)],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(10)
    chunks = [await communicator.receive_output(10)]
    while chunks[-1].get("more_body"):
        chunks.append(await communicator.receive_output(10))
    await communicator.wait(10)
    response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, b"".join(chunk.get("body", b"") for chunk in chunks)


def shown(headers: dict[str, str]) -> dict[str, str | None]:
    return {name: headers.get(name.lower()) for name in SECURITY_HEADERS}


@pytest.fixture
def fake_handler(monkeypatch):
    """The callbacks' database step replaced: what called it, and from where."""
    calls: list[list[str]] = []

    async def on_db_thread(request, handler, *args):
        calls.append([frame.filename for frame in traceback.extract_stack()])
        return JsonResponse({"answered": True})

    monkeypatch.setattr(views, "on_db_thread", on_db_thread)
    return calls


async def test_a_callback_reaches_its_view_on_the_loop_with_no_thread_hop(fake_handler):
    status, _, body = await call("POST", PAYME_URL, BODY, headers=[("Content-Type", "application/json")])

    assert (status, json.loads(body)) == (200, {"answered": True})
    [stack] = fake_handler
    # No sync_to_async / async_to_sync on the way, and not through Django's own handler's middleware.
    assert [name for name in stack if name.endswith("asgiref/sync.py")] == []
    assert any(name.endswith("bookings/payments/asgi.py") for name in stack)


async def test_a_callback_carries_the_security_headers_every_response_carries(fake_handler):
    _, callback, _ = await call("POST", PAYME_URL, BODY)
    _, login, _ = await call("GET", "/admin/login/")

    assert shown(callback) == SECURITY_HEADERS
    assert shown(callback) == shown(login)
    assert "set-cookie" not in callback  # no session, no CSRF cookie


async def test_over_https_a_callback_gets_hsts_and_over_http_the_redirect_when_https_is_required(
    settings, fake_handler
):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    app = with_callbacks(django_asgi_app)  # the security middleware reads its settings when it is made

    plain_status, plain, _ = await call("POST", PAYME_URL, BODY, app=app)
    secure_status, secure, body = await call("POST", PAYME_URL, BODY, scheme="https", app=app)

    assert (plain_status, plain["location"]) == (301, f"https://testserver{PAYME_URL}")
    assert (secure_status, json.loads(body)) == (200, {"answered": True})
    assert secure["strict-transport-security"] == "max-age=3600"
    assert len(fake_handler) == 1


async def test_a_nul_byte_in_a_callbacks_address_is_refused_before_its_view(fake_handler, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        status, headers, _ = await call("POST", PAYME_URL, BODY, query=b"note=%00")

    assert status == 400
    assert shown(headers) == SECURITY_HEADERS
    assert fake_handler == []
    assert any(record.name == "django.request" and PAYME_URL in record.getMessage() for record in caplog.records)


async def test_other_requests_pass_the_back_offices_middleware(fake_handler):
    assert (await call("GET", "/healthz"))[2] == b"ok"
    status, headers, _ = await call("GET", "/admin/")  # sessions, login: the back office's own middleware
    assert status == 302 and headers["location"].startswith("/admin/login/")
    assert shown(headers) == SECURITY_HEADERS
    assert (await call("GET", "/admin/", query=b"q=%00"))[0] == 400
    # Under the callbacks' prefix but not one of their URLs: Django's own 404, not a callback.
    assert (await call("POST", "/payments/nowhere/", BODY))[0] == 404
    assert fake_handler == []


async def test_a_client_gone_before_its_body_arrived_gets_nothing_and_breaks_nothing(fake_handler):
    scope = {"type": "http", "method": "POST", "path": PAYME_URL, "query_string": b"", "headers": []}
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(10)
    assert await communicator.receive_nothing()
    assert fake_handler == []


@pytest.mark.django_db(transaction=True)
async def test_a_real_callback_is_answered_in_the_providers_format_and_logged(settings):
    settings.CLICK_SECRET_KEY = "click-secret-key"
    form = click_form("NOSUCH1", stage="prepare", sign_string="0" * 32)  # a wrong signature

    status, headers, body = await call(
        "POST", CLICK_URLS["prepare"], urlencode(form).encode(), headers=[("Content-Type", FORM)]
    )

    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == -1
    assert await PaymentLog.objects.filter(action="prepare", error=-1).acount() == 1


def test_a_synchronous_server_reaches_the_callbacks_through_the_middleware(client, fake_handler):
    """WSGI and Django's test client have no such front: settings.MIDDLEWARE takes a callback there."""
    response = payme_raw(client, BODY.decode())

    assert response.json() == {"answered": True}
    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
    https = Client()
    assert (
        https.post(
            PAYME_URL, data=BODY, content_type="application/json", HTTP_AUTHORIZATION=basic("x"), secure=True
        ).status_code
        == 200
    )
