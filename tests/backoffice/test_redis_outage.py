"""Redis down (issue 12, finding 5): with the cache refusing connections, or accepting them and never
answering, the back office keeps working on an empty cache -- dashboard, lists, a booking's action
pages and the action itself -- with one log line about the cache, and a Redis that hangs is tried a
bounded number of times, not once per cache read. The channel layer being down never breaks a
booking either."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.urls import reverse

from backoffice.cache import reset_breakers
from backoffice.settings import redis_cache
from bookings import services
from bookings.models import Booking, BookingStatus, Payment
from realtime import delivery
from tests import broken_redis
from tests.factories import ManagerFactory, ProductFactory, SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db

CACHE_LOGGER = "backoffice.cache"
CACHE_OPTIONS = redis_cache("redis://127.0.0.1:6379/0")["OPTIONS"]  # what production runs with


@pytest.fixture
def manager_client(client):
    client.force_login(ManagerFactory())
    return client


@pytest.fixture
def refused(settings) -> Iterator[str]:
    reset_breakers()
    with broken_redis.refusing() as url:
        settings.CACHES = {"default": redis_cache(url)}
        yield url


@pytest.fixture
def hung(settings) -> Iterator[broken_redis.Silent]:
    reset_breakers()
    with broken_redis.silent() as server:
        # A long failure window: however slow the machine, the walk below fits in one.
        settings.CACHES = {"default": {**redis_cache(server.url), "OPTIONS": {**CACHE_OPTIONS, "failure_window": 3600}}}
        yield server


def walk(client, django_capture_on_commit_callbacks) -> tuple[dict[str, int], Booking]:
    """Every kind of page a desk uses, and a booking made and paid in cash through the admin."""
    session = SessionFactory(product=ProductFactory(price=Decimal("350000")), capacity=5)
    pending = services.book(session=session, student=StudentFactory())
    answers = {
        "dashboard": client.get(reverse("admin:index")).status_code,
        "bookings": client.get(reverse("admin:bookings_booking_changelist")).status_code,
        "sessions": client.get(reverse("admin:bookings_session_changelist")).status_code,
        "booking": client.get(reverse("admin:bookings_booking_change", args=[pending.pk])).status_code,
        "confirm form": client.get(reverse("admin:bookings_booking_confirm_booking", args=[pending.pk])).status_code,
    }
    # Commit hooks run as they would after a real commit: the dashboard version bump and the events.
    with django_capture_on_commit_callbacks(execute=True):
        answers["booking add"] = client.post(
            reverse("admin:bookings_booking_add"),
            {"session": session.pk, "student": StudentFactory().pk, "payment_method": "cash"},
        ).status_code
        answers["cash"] = client.post(
            reverse("admin:bookings_booking_mark_paid", args=[pending.pk]), {"amount": "350000"}
        ).status_code
    answers["booking after"] = client.get(reverse("admin:bookings_booking_change", args=[pending.pk])).status_code
    answers["dashboard after"] = client.get(reverse("admin:index")).status_code
    delivery.flush()
    pending.refresh_from_db()
    return answers, pending


EVERY_PAGE_ANSWERS = {
    "dashboard": 200,
    "bookings": 200,
    "sessions": 200,
    "booking": 200,
    "confirm form": 200,
    "booking add": 302,
    "cash": 302,
    "booking after": 200,
    "dashboard after": 200,
}


def cache_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == CACHE_LOGGER and r.levelno == logging.WARNING]


def test_it_serves_every_page_and_takes_the_booking_and_the_cash_while_redis_refuses(
    refused, manager_client, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.INFO)

    answers, paid = walk(manager_client, django_capture_on_commit_callbacks)

    assert answers == EVERY_PAGE_ANSWERS
    assert paid.status == BookingStatus.CONFIRMED
    assert Payment.objects.get(booking=paid).amount == Decimal("350000")
    assert Booking.objects.count() == 2  # the one made on the add form committed too
    warnings = cache_warnings(caplog)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # one line per outage, not one per read
    assert "cache" in warnings[0].getMessage().lower() and "127.0.0.1" in warnings[0].getMessage()
    assert warnings[0].exc_info is None  # a line, not a traceback


def test_a_redis_that_never_answers_is_tried_once_for_the_whole_walk(
    hung, manager_client, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.INFO)

    answers, paid = walk(manager_client, django_capture_on_commit_callbacks)

    assert answers == EVERY_PAGE_ANSWERS
    assert paid.status == BookingStatus.CONFIRMED
    # Dozens of cache reads and writes above; after the first one timed out, Redis was left alone.
    assert hung.accepted == 1
    assert len(cache_warnings(caplog)) == 1


def test_the_cache_is_configured_with_short_socket_timeouts():
    # redis-py 8 waits 5 s by default: every page would take 5 s per cache call against a hung Redis.
    assert 0 < CACHE_OPTIONS["socket_connect_timeout"] <= 0.5
    assert 0 < CACHE_OPTIONS["socket_timeout"] <= 0.5


def test_a_booking_commits_and_its_page_answers_while_the_channel_layer_refuses(
    settings, manager_client, django_capture_on_commit_callbacks, caplog
):
    session = SessionFactory(capacity=5)
    with broken_redis.refusing() as url:
        settings.CHANNEL_LAYERS = {
            "default": {"BACKEND": "realtime.layers.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = manager_client.post(
                reverse("admin:bookings_booking_add"),
                {"session": session.pk, "student": StudentFactory().pk, "payment_method": "cash"},
                follow=True,
            )
        delivery.flush()

    assert response.redirect_chain == [(reverse("admin:bookings_booking_changelist"), 302)]
    assert response.status_code == 200
    assert Booking.objects.get().session == session
    session.refresh_from_db()
    assert session.seats_taken == 1
    assert "Could not deliver realtime events" in caplog.text
