from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.db import connection

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _redis_available() -> tuple[bool, str]:
    url = os.environ.get("REDIS_URL")
    if not url:
        return False, "needs Redis: set REDIS_URL"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        return False, f"Redis at {url} is unreachable: {exc}"
    return True, ""


def pytest_runtest_setup(item) -> None:
    missing = []
    if "postgres" in item.keywords and connection.vendor != "postgresql":
        missing.append("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if "redis" in item.keywords:
        redis_ok, redis_reason = _redis_available()
        if not redis_ok:
            missing.append(redis_reason)
    if missing:
        reason = "; ".join(missing)
        if REQUIRE_SERVICES:
            # In CI a missing server is a failure, never a silent skip.
            pytest.fail(f"REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
        pytest.skip(reason)


def pytest_report_header(config) -> list[str]:
    redis_ok, redis_reason = _redis_available()
    return [
        f"seatdesk: database={connection.vendor}, redis={'yes' if redis_ok else 'no (' + redis_reason + ')'}, "
        f"REQUIRE_SERVICES={'1' if REQUIRE_SERVICES else '0'}"
    ]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Every test starts with an empty cache: badges, unread counts and dashboard figures are cached
    per user id or for everyone, and a value left by an earlier test (or expiring half-way through
    this one) would change what a page shows and how many queries it costs."""
    from django.core.cache import cache

    from backoffice.cache import reset_breakers

    reset_breakers()
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _locmem_email(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # PBKDF2 costs ~0.3 s per user; tests create hundreds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _drop_leftover_connections(django_db_setup, django_db_blocker):
    """Connections kept alive in worker threads (async tests, CONN_MAX_AGE) would stop PostgreSQL
    from dropping the test database at the end of the run."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
