"""Every cache object of a process shares one Redis connection pool (backoffice/cache.py): Django makes
a cache object per thread and per async request, and each opened its own connection to Redis."""

from __future__ import annotations

import threading

import pytest
import redis
from django.core.cache import caches

from backoffice.cache import reset_breakers
from backoffice.settings import redis_cache

pytestmark = pytest.mark.redis

THREADS = 5


def connections_to(url: str) -> int:
    """The connections Redis has open to the database of ``url`` (this test's own, one helper's)."""
    probe = redis.Redis.from_url(url)
    try:
        db = probe.connection_pool.connection_kwargs.get("db", 0)
        return sum(1 for client in probe.client_list() if int(client["db"]) == db) - 1  # less the probe
    finally:
        probe.close()


def test_caches_made_by_different_threads_share_one_redis_connection(settings):
    reset_breakers()
    settings.CACHES = {"default": {**redis_cache(settings.REDIS_URL), "KEY_PREFIX": "test-shared-client"}}
    before = connections_to(settings.REDIS_URL)
    made = []

    def use_the_cache(n: int) -> None:
        cache = caches["default"]  # a cache object of this thread's own
        cache.set(f"k{n}", n, 30)
        assert cache.get(f"k{n}") == n
        made.append(cache)  # kept alive: its connections stay open if it has any of its own

    for n in range(THREADS):  # one after the other: one connection serves them all
        thread = threading.Thread(target=use_the_cache, args=(n,))
        thread.start()
        thread.join()

    assert len({id(cache) for cache in made}) == THREADS
    assert connections_to(settings.REDIS_URL) - before == 1
    made[0].delete_many([f"k{n}" for n in range(THREADS)])


def test_every_operation_uses_one_redis_client_of_the_process(settings):
    """Django's client built a redis-py client per operation (a third of a ``set``'s CPU)."""
    reset_breakers()
    settings.CACHES = {"default": {**redis_cache(settings.REDIS_URL), "KEY_PREFIX": "test-shared-client"}}
    clients = []

    def use_the_cache() -> None:
        cache = caches["default"]
        clients.extend([cache._cache.get_client("k", write=True), cache._cache.get_client("k")])
        cache.set("k", 1, 30)
        assert cache.get("k") == 1
        cache.delete("k")

    for _ in range(2):
        thread = threading.Thread(target=use_the_cache)
        thread.start()
        thread.join()

    assert len({id(client) for client in clients}) == 1
