"""The callbacks served by a real daphne process, as the providers reach them in production.

Under daphne Django runs each request's synchronous code on a thread made for that request, so a
synchronous callback view opened a PostgreSQL connection per call and left it behind (CONN_MAX_AGE
keeps it in a thread that is gone); a burst of callbacks then ran PostgreSQL out of connections
("too many clients", answered -7 / -32400). The callbacks now run on daphne's long-lived worker
threads (ASGI_THREADS), each keeping its connection.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import connection

from bookings import services
from bookings.models import BookingStatus, Payment, PaymentLog
from tests.factories import SessionFactory, StudentFactory
from tests.payments import protocol
from tests.servers import daphne_server

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKER_THREADS = 2


@pytest.fixture
def server_env(monkeypatch, provider_settings):
    """The daphne process reads the providers' credentials from its environment."""
    for name in ("CLICK_SERVICE_ID", "CLICK_SECRET_KEY", "PAYME_KEY", "PAYME_TEST_KEY", "PAYME_MERCHANT_ID"):
        monkeypatch.setenv(name, getattr(provider_settings, name))
    monkeypatch.setenv("PAYME_TEST_MODE", "0")
    monkeypatch.setenv("PAYMENT_ALLOWED_IPS", "")
    monkeypatch.setenv("ASGI_THREADS", str(WORKER_THREADS))  # daphne's worker threads


def connections_opened() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


class Provider:
    """One keep-alive connection to the server, as a provider's client keeps one."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.http = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, dict]:
        self.http.request("POST", path, body=body, headers=headers)
        response = self.http.getresponse()
        return response, json.loads(response.read())

    def payme(self, method: str, params: dict) -> tuple[http.client.HTTPResponse, dict]:
        body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).encode()
        headers = {"Content-Type": "application/json", "Authorization": protocol.basic(protocol.PAYME_KEY)}
        return self.post(protocol.PAYME_URL, body, headers)

    def click(self, stage: str, form: dict[str, str]) -> tuple[http.client.HTTPResponse, dict]:
        return self.post(protocol.CLICK_URLS[stage], urlencode(form).encode(), {"Content-Type": protocol.FORM})


def test_a_burst_of_callbacks_reuses_the_workers_database_connections(server_env):
    bookings = [services.book(session=SessionFactory(capacity=30), student=StudentFactory()) for _ in range(3)]

    with daphne_server() as server:
        provider = Provider(server.base)
        provider.payme("CheckPerformTransaction", {"amount": 1, "account": {"booking": "WARMUP"}})
        opened_before = connections_opened()
        for n in range(30):
            booking = bookings[n % 3]
            response, answer = provider.payme(
                "CheckPerformTransaction", {"amount": 35_000_000, "account": {"booking": booking.reference}}
            )
            assert response.status == 200 and answer["result"] == {"allow": True}
        opened = connections_opened() - opened_before

    # One per worker thread at most, not one per call (it was 30).
    assert opened <= WORKER_THREADS
    assert PaymentLog.objects.filter(action="CheckPerformTransaction", error=None).count() == 30


def test_a_payment_end_to_end_over_http_sets_no_cookie(server_env):
    booking = services.book(session=SessionFactory(capacity=5), student=StudentFactory())

    with daphne_server() as server:
        provider = Provider(server.base)
        response, prepared = provider.click("prepare", protocol.click_form(booking.reference, stage="prepare"))
        assert prepared["error"] == 0
        response, completed = provider.click(
            "complete",
            protocol.click_form(booking.reference, stage="complete", prepare_id=prepared["merchant_prepare_id"]),
        )

    assert completed["error"] == 0
    # Answered before the back office's session, CSRF and header middleware: nothing to set.
    assert response.getheader("Set-Cookie") is None
    assert response.getheader("Content-Type") == "application/json"
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert Payment.objects.get(booking=booking).status == "paid"
