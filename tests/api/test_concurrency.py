"""64 students booking a 5-seat session at the same instant, over HTTP, against a threaded server
on PostgreSQL: every request runs in its own thread with its own database connection."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from rest_framework_simplejwt.tokens import RefreshToken

from bookings.models import SEAT_HOLDING, Booking
from tests.factories import SessionFactory, StudentFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLIENTS = 64


class Server(ThreadedWSGIServer):
    request_queue_size = 2 * CLIENTS  # every client connects at once: none waits for a SYN retry


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    httpd = Server(("127.0.0.1", 0), QuietHandler)
    httpd.set_app(WSGIHandler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def post(url: str, body: dict, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_64_clients_get_exactly_5_seats_and_59_answers_409(server):
    session = SessionFactory(capacity=5)
    tokens = [str(RefreshToken.for_user(StudentFactory()).access_token) for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS)
    answers: list[tuple[int, dict] | Exception] = [None] * CLIENTS  # type: ignore[list-item]

    def client(index: int) -> None:
        barrier.wait()
        try:
            answers[index] = post(f"{server}/api/v1/bookings/", {"session": session.pk}, tokens[index])
        except Exception as exc:
            answers[index] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not [a for a in answers if isinstance(a, Exception)], answers
    assert Counter(status for status, _ in answers) == {201: 5, 409: 59}
    assert {body["code"] for status, body in answers if status == 409} == {"session_full"}
    session.refresh_from_db()
    assert session.seats_taken == 5
    assert Booking.objects.filter(session=session, status__in=SEAT_HOLDING).count() == 5
