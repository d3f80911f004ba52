"""The callbacks' database threads (``views.DatabaseThread``): a connection in use is not health-checked
before every call, an idle one is, and one the server dropped is replaced."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper

from bookings.payments import views

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def checks(monkeypatch) -> list[int]:
    """Each health check Django makes (``is_usable``), by the backend's pid."""
    made: list[int] = []
    real = DatabaseWrapper.is_usable

    def counted(self) -> bool:
        made.append(self.connection.info.backend_pid if self.connection is not None else 0)
        return real(self)

    monkeypatch.setattr(DatabaseWrapper, "is_usable", counted)
    return made


def backend() -> int:
    """A callback's work: one statement; which PostgreSQL backend answered it."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def on_db_thread(calls: int) -> list[int]:
    """``calls`` callbacks one after another on one database thread, as a burst reaches one worker."""

    async def burst() -> list[int]:
        one_worker()
        return [await views.DatabaseThread(backend, thread_sensitive=False)() for _ in range(calls)]

    return asyncio.run(burst())


def one_worker() -> None:
    """The running loop's executor, where the callbacks run: one thread, so its connection is reused."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1))


async def terminate(pid: int) -> None:
    """PostgreSQL drops the backend (a restart), asked from another thread than the worker's."""

    def kill() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as other:
        await asyncio.get_running_loop().run_in_executor(other, kill)


def test_a_burst_reuses_its_connection_without_a_check_before_each_call(checks):
    pids = on_db_thread(10)

    assert len(set(pids)) == 1  # one connection for the burst
    assert checks == []  # it was in use: no SELECT 1 before each call (it was one per call)


def test_an_idle_connection_is_checked_before_it_is_used(checks, monkeypatch):
    monkeypatch.setattr(views, "CHECKED_WITHIN", 0.0)  # every connection counts as idle

    pids = on_db_thread(3)

    assert len(set(pids)) == 1
    assert checks == [pids[0], pids[0]]  # before the second and the third call (the first one opened it)


def test_an_idle_connection_the_server_dropped_is_replaced_before_the_call(checks, monkeypatch):
    monkeypatch.setattr(views, "CHECKED_WITHIN", 0.0)

    async def scenario() -> list[int]:
        one_worker()
        first = await views.DatabaseThread(backend, thread_sensitive=False)()
        await terminate(first)  # a PostgreSQL restart while the worker was idle
        second = await views.DatabaseThread(backend, thread_sensitive=False)()
        return [first, second]

    first, second = asyncio.run(scenario())

    assert second != first  # checked, found dead, reconnected: the call itself succeeded
    assert checks == [first]


def test_a_connection_dropped_within_a_burst_fails_one_call_and_is_replaced(checks):
    async def scenario() -> list[int | str]:
        one_worker()
        answered: list[int | str] = [await views.DatabaseThread(backend, thread_sensitive=False)()]
        await terminate(answered[0])
        for _ in range(2):
            try:
                answered.append(await views.DatabaseThread(backend, thread_sensitive=False)())
            except OperationalError as error:
                answered.append(type(error).__name__)
        return answered

    first, failed, then = asyncio.run(scenario())

    # In use a moment ago: not checked, so the call in flight fails (a provider retries it), and
    # the broken connection is closed after it; the next call opens a new one.
    assert failed == "OperationalError"
    assert isinstance(then, int) and then != first
