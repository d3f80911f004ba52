"""/healthz and /readyz: liveness always 200; readiness 200 with each check listed, or 503 naming the
failing ones (database, Redis, a django-q2 cluster's scheduler moving the expiry on); neither is
redirected, host-checked, logged in, given a session or logged as an error."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.scheduler import scheduler

from backoffice.health import TASKS_MAX_AGE, expiry_schedules
from bookings.schedules import ensure_schedules
from tests import broken_redis

pytestmark = pytest.mark.django_db


def scheduled(*, overdue: timedelta = timedelta(0)) -> None:
    """The schedules as ``setup_schedules`` makes them, the expiry's next run ``overdue`` ago."""
    ensure_schedules(now=timezone.now() - overdue)


@pytest.fixture
def scheduler_pass(monkeypatch):
    """One pass of django-q2's own scheduler, as a cluster makes every ~30 s."""
    # Inside the test's transaction there are no stale connections to close (closing would break it).
    monkeypatch.setattr("django_q.scheduler.close_old_django_connections", lambda: None)
    return scheduler


def test_healthz_answers_ok_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["Cache-Control"] == "no-store"


def test_readyz_lists_every_check_and_answers_200_when_all_pass(client, settings, django_assert_num_queries):
    # The later expiry schedule (the offset one, 30 s after) 90 s overdue: a slow pass, not a stopped cluster.
    scheduled(overdue=timedelta(minutes=2))

    with django_assert_num_queries(2):  # SELECT 1 and the expiry schedules' next run
        response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["failing"]) == ("ok", [])
    assert set(body["checks"]) == {"database", "redis", "tasks"}
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["redis"]["status"] == ("ok" if settings.REDIS_URL else "skipped")
    assert body["checks"]["tasks"]["status"] == "ok"
    assert 90 <= body["checks"]["tasks"]["overdue_seconds"] < 90 + 60
    assert not response.cookies  # no session, no CSRF cookie


@pytest.mark.parametrize(
    ("overdue", "detail"),
    [
        (None, "the expiry is not scheduled: run manage.py setup_schedules"),
        (TASKS_MAX_AGE + timedelta(seconds=30), "no scheduler pass in the last 5 minutes"),
    ],
)
def test_readyz_answers_503_naming_the_tasks_when_no_cluster_ran_lately(client, overdue, detail):
    if overdue is not None:
        scheduled(overdue=overdue)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failing"]) == ("fail", ["tasks"])
    assert body["checks"]["tasks"]["detail"] == detail
    assert body["checks"]["database"]["status"] == "ok"


def test_a_pass_of_django_qs_scheduler_makes_the_tasks_ready_again(client, monkeypatch, scheduler_pass):
    assert set(expiry_schedules()) == {"expire_pending_bookings", "expire_pending_bookings_offset"}
    scheduled(overdue=TASKS_MAX_AGE * 2)  # the cluster was stopped ten minutes ago...
    assert client.get("/readyz").json()["failing"] == ["tasks"]

    scheduler_pass(broker=ORM(list_key="health"))  # ...and runs again

    assert client.get("/readyz").status_code == 200
    assert all(run > timezone.now() for run in Schedule.objects.values_list("next_run", flat=True))


def test_a_cluster_that_cannot_reach_its_broker_leaves_the_tasks_failing(client, monkeypatch, scheduler_pass):
    scheduled(overdue=TASKS_MAX_AGE * 2)
    with broken_redis.refusing() as url:
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", url)

        scheduler_pass()  # django-q2 rolls the pass back when the broker refuses the task

    assert client.get("/readyz").json()["failing"] == ["tasks"]


@pytest.mark.parametrize("down", ["refusing", "silent"])
def test_readyz_answers_503_naming_redis_while_healthz_stays_200(client, settings, down):
    scheduled()
    with getattr(broken_redis, down)() as server:
        settings.REDIS_URL = server if isinstance(server, str) else server.url

        ready = client.get("/readyz")
        live = client.get("/healthz")

    assert ready.status_code == 503
    body = ready.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["redis"] == {
        "status": "fail",
        "error": "ConnectionError" if down == "refusing" else "TimeoutError",
    }
    assert "127.0.0.1" not in ready.content.decode()  # the kind of error, never an address
    assert (live.status_code, live.content) == (200, b"ok")


def test_the_checks_are_answered_before_https_redirects_host_checks_and_slash_redirects(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["seatdesk.example"]
    scheduled()
    probe = Client()  # what a load balancer sends: plain HTTP to the instance's own address

    for path in ("/healthz", "/healthz/", "/readyz", "/readyz/"):
        response = probe.get(path, HTTP_HOST="10.0.0.7:8000")
        assert response.status_code == 200, path
    assert probe.get("/admin/", HTTP_HOST="seatdesk.example").status_code == 301  # the rest is redirected


def test_only_get_and_head_are_answered(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 404


def test_a_503_from_readyz_is_not_logged_as_a_server_error(client, caplog):
    # A load balancer asks every few seconds; an outage is logged where it is met, once a window.
    assert client.get("/readyz").status_code == 503  # the expiry is not scheduled

    assert [r for r in caplog.records if r.name == "django.request"] == []
