"""``/healthz`` and ``/readyz``: is this process up, and can it serve, for a load balancer or monitor.

- ``/healthz`` (liveness): the process answers. No dependency is checked, so a database or Redis
  outage never gets healthy processes restarted. Always 200 ``ok``.
- ``/readyz`` (readiness): one cheap check per dependency, 200 when all pass, 503 naming the failing
  ones; the JSON body lists each check and its status either way:
  - ``database``: ``SELECT 1``.
  - ``redis``: a PING with the cache's short timeouts, when ``REDIS_URL`` is set ("skipped" if not).
  - ``tasks``: a django-q2 cluster is running -- its scheduler moved the expiry on lately. Every
    scheduler pass (about every 30 s, bookings/schedules.py) that finds an expiry schedule due
    starts the task and moves the schedule's ``next_run`` into the future, in one transaction that
    is rolled back if the broker refuses the task. So while a cluster runs and reaches the broker,
    the later of the two expiry schedules' ``next_run`` is never more than a pass in the past; once
    it is ``TASKS_MAX_AGE`` overdue, no cluster has run. The schedules live in the database whichever
    broker is used, and the query reads two rows of a table of six. (django-q2's cluster ``Stat``
    is no use here: on the ORM broker it lives in the cache, which is a local-memory cache in the
    worker's own process. The result table, ordered by ``stopped``, has no index for that: with
    6,000 rows, most of them failures with their tracebacks, the query took 12 ms.)

Both are answered by a middleware placed first, before anything that could turn them into something
else: no HTTPS redirect (``SECURE_SSL_REDIRECT``), no ``ALLOWED_HOSTS`` check (a probe addresses the
instance by its IP), no trailing-slash redirect, no session, no CSRF, no login. Only GET and HEAD;
nothing in an answer names a host or carries an error message, only the kind of error. Django's
"Service Unavailable" line for a 503 is filtered out of the log (``ReadinessAnswers``): probes ask
every few seconds, and the outage is logged where it is met.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import cache, lru_cache
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

# Ten scheduler passes: a cluster restarted during a deploy does not fail readiness, one that
# stopped does.
TASKS_MAX_AGE = timedelta(minutes=5)
Check = dict[str, Any]


def liveness(request: HttpRequest) -> HttpResponse:
    return _no_store(HttpResponse("ok", content_type="text/plain"))


def readiness(request: HttpRequest) -> HttpResponse:
    database = check_database()
    # Without the database the tasks cannot be checked; asking again would wait for it twice.
    tasks = check_tasks() if database["status"] == "ok" else {"status": "fail", "detail": "needs the database"}
    checks = {"database": database, "redis": check_redis(), "tasks": tasks}
    failing = [name for name, check in checks.items() if check["status"] == "fail"]
    body = {"status": "fail" if failing else "ok", "failing": failing, "checks": checks}
    return _no_store(JsonResponse(body, status=503 if failing else 200))


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        return _failed(error)
    return {"status": "ok"}


def check_redis() -> Check:
    if not settings.REDIS_URL:
        return {"status": "skipped", "detail": "REDIS_URL is not set"}
    try:
        _redis(settings.REDIS_URL).ping()
    except Exception as error:
        return _failed(error)
    return {"status": "ok"}


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    """One client (and connection pool) per process, with the cache's short timeouts (settings
    ``redis_cache``) so that a hung Redis answers "fail" within a second; no retries."""
    options = settings.CACHES["default"].get("OPTIONS", {})
    timeouts = {name: options.get(name, 0.5) for name in ("socket_connect_timeout", "socket_timeout")}
    return redis.Redis.from_url(url, **timeouts)


@cache
def expiry_schedules() -> tuple[str, ...]:
    """The names of the expiry's schedules (bookings/schedules.py)."""
    # Imported here, not at the top: settings.LOGGING loads this module (ReadinessAnswers) before
    # the apps, and so the models, are ready.
    from bookings.schedules import EXPIRY, SCHEDULES

    return tuple(spec.name for spec in SCHEDULES if spec.func == EXPIRY)


def check_tasks() -> Check:
    from django_q.models import Schedule  # see expiry_schedules()

    try:
        next_run = Schedule.objects.filter(name__in=expiry_schedules()).aggregate(next_run=Max("next_run"))["next_run"]
    except Exception as error:
        return _failed(error)
    if next_run is None:
        return {"status": "fail", "detail": "the expiry is not scheduled: run manage.py setup_schedules"}
    overdue = max(timezone.now() - next_run, timedelta(0))
    check = {"next_run": next_run.isoformat(), "overdue_seconds": int(overdue.total_seconds())}
    if overdue > TASKS_MAX_AGE:
        minutes = int(TASKS_MAX_AGE.total_seconds() // 60)
        return {"status": "fail", "detail": f"no scheduler pass in the last {minutes} minutes", **check}
    return {"status": "ok", **check}


def _failed(error: Exception) -> Check:
    # The kind of error only: a message can name hosts, users or paths, and this page is public.
    return {"status": "fail", "error": type(error).__name__}


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": liveness, "/readyz": readiness}


class ReadinessAnswers(logging.Filter):
    """Keeps Django's "Service Unavailable: /readyz" out of the log (settings.LOGGING, ``django.request``).

    A 503 there is the answer a load balancer asked for, every few seconds per instance for as long
    as an outage lasts; the outage itself is logged where it is met (the cache's one line a window).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return getattr(request, "path_info", "").rstrip("/") not in VIEWS


class HealthCheckMiddleware:
    """Answers ``/healthz`` and ``/readyz`` (with or without a trailing slash); first in MIDDLEWARE."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = VIEWS.get(request.path_info.rstrip("/"))
        if view is not None and request.method in ("GET", "HEAD"):
            return view(request)
        return self.get_response(request)
