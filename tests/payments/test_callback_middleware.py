"""The callbacks' place in the middleware (bookings.payments.middleware): what every request gets --
the https redirect, the security headers, the NUL-byte guard -- and, on the ASGI server, no thread
hop between the server's event loop and the callback's view."""

from __future__ import annotations

import json
import traceback

import pytest
from django.http import JsonResponse
from django.test import AsyncClient, Client

from bookings.payments import views
from tests.payments.protocol import PAYME_URL, basic, payme_raw

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
BODY = json.dumps({"id": 1, "method": "CheckTransaction", "params": {"id": "a" * 24}})


@pytest.fixture
def fake_handler(monkeypatch):
    """The callbacks' database step replaced: what called it, and from where."""
    calls: list[list[str]] = []

    async def on_db_thread(request, handler, *args):
        calls.append([frame.filename for frame in traceback.extract_stack()])
        return JsonResponse({"answered": True})

    monkeypatch.setattr(views, "on_db_thread", on_db_thread)
    return calls


def shown(response, names=SECURITY_HEADERS) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in names}


@pytest.mark.django_db
def test_a_callback_carries_the_security_headers_every_response_carries(client):
    response = payme_raw(client, BODY)

    assert response.json()["error"]["code"] == -31003
    assert shown(response) == SECURITY_HEADERS
    assert shown(response) == shown(client.get("/admin/login/"))


@pytest.mark.django_db
def test_a_callback_over_https_gets_hsts_and_over_http_the_redirect_when_https_is_required(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    provider = Client()

    plain = provider.post(PAYME_URL, data=BODY, content_type="application/json", HTTP_AUTHORIZATION=basic("x"))
    secure = provider.post(
        PAYME_URL, data=BODY, content_type="application/json", HTTP_AUTHORIZATION=basic("x"), secure=True
    )

    assert (plain.status_code, plain["Location"]) == (301, f"https://testserver{PAYME_URL}")
    assert secure.json()["error"]["code"] == -32504
    assert secure["Strict-Transport-Security"] == "max-age=3600"


def test_a_nul_byte_in_a_callbacks_address_is_refused_before_its_view(client, fake_handler):
    response = client.post(f"{PAYME_URL}?note=%00", data=BODY, content_type="application/json")

    assert response.status_code == 400
    assert shown(response) == SECURITY_HEADERS
    assert fake_handler == []


async def test_on_the_asgi_server_a_callback_reaches_its_view_with_no_thread_hop(fake_handler):
    response = await AsyncClient().post(PAYME_URL, data=BODY, content_type="application/json")

    assert response.json() == {"answered": True}
    assert shown(response) == SECURITY_HEADERS
    [stack] = fake_handler
    # No sync_to_async / async_to_sync on the way: the view is awaited by the middleware, on the loop.
    assert [name for name in stack if name.endswith("asgiref/sync.py")] == []


async def test_on_the_asgi_server_other_requests_still_pass_the_back_offices_middleware():
    client = AsyncClient()

    assert (await client.get("/healthz")).content == b"ok"
    login = await client.get("/admin/")  # sessions, login: the back office's own middleware
    assert login.status_code == 302 and login["Location"].startswith("/admin/login/")
    assert shown(login) == SECURITY_HEADERS
    assert (await client.get("/admin/?q=%00")).status_code == 400
