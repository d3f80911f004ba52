"""The Redis cache, failing soft: a Redis that is down or hung behaves like an empty cache.

Everything Seatdesk caches can be recomputed from the database (the dashboard's figures, sidebar
badge counts, unread counts), so when Redis refuses connections or does not answer within the
socket timeout, a read is a miss and a write is dropped: pages, bookings and payments go on, one
query more each. This is a backend (settings.CACHES), not a wrapper around our own calls, so it
covers every user of the cache: ours, Django's and any library's.

After a failure Redis is left alone for ``failure_window`` seconds (a circuit breaker, shared by
the threads of the process): a page that reads the cache ten times against a hung Redis pays one
socket timeout, not ten. Then a single call tries Redis again; the others keep skipping it until
that try is over. The outage is logged as one WARNING line per window, without a traceback, and
its end as one INFO line.

What an outage costs once Redis is back: writes made meanwhile were dropped, so a cached value can
be older than its own invalidation (a dashboard version bump, an unread count forgotten) until its
TTL lapses -- at most a minute for the dashboard, 30 s for badges and unread counts.

One Redis client (and its connection pool) per Redis location and process: Django makes a cache
object per request context (each thread, each async request), and each made its own client, so
every request that touched the cache opened a new Redis connection -- whose handshake reads the
redis package's metadata from disk: about 8 % of a payment callback's CPU (bench/payment_callbacks.py).
Django's client also builds a new redis-py client object for every operation (``get_client``),
on that one pool: 67 us of a 200 us ``set`` on the 2-core machine of issue 15, once per paying
callback (the dashboard's version). Here each pool has one, made once (``SharedRedisCacheClient``):
redis-py's client is safe to share between threads, a connection being taken from the pool for
each command.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property
from redis import exceptions

logger = logging.getLogger(__name__)

# What "Redis is unavailable" looks like: refused, reset, timed out, still loading its data set,
# out of memory, or a replica after a failover refusing writes. Other errors (a bad argument) are
# bugs and are raised.
UNAVAILABLE = (
    exceptions.ConnectionError,
    exceptions.TimeoutError,
    exceptions.OutOfMemoryError,
    exceptions.ReadOnlyError,
)
FAILURE_WINDOW = 10.0  # seconds without Redis after a failure (OPTIONS["failure_window"])

_MISSING = object()


class Breaker:
    """When to try Redis again after it failed. One per Redis location and process."""

    def __init__(self, name: str, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._retry_at: float | None = None  # None: closed, Redis is used
        self._warned_at: float | None = None

    @property
    def open(self) -> bool:
        return self._retry_at is not None

    def allow(self) -> bool:
        """Whether this call may use Redis."""
        if self._retry_at is None:
            return True
        with self._lock:
            now = self.clock()
            if self._retry_at is None:
                return True
            if now < self._retry_at:
                return False
            # This call is the one that tries again; the others wait for another window.
            self._retry_at = now + self.window
            return True

    def failed(self, error: Exception) -> None:
        with self._lock:
            now = self.clock()
            self._retry_at = now + self.window
            if self._warned_at is not None and now - self._warned_at < self.window:
                return  # threads that were already waiting on Redis when it failed: said once
            self._warned_at = now
        logger.warning(
            "Cache at %s is unavailable (%s: %s): serving without it, next try in %g s",
            self.name,
            type(error).__name__,
            error,
            self.window,
        )

    def succeeded(self) -> None:
        if self._retry_at is None:
            return
        with self._lock:
            was_open, self._retry_at, self._warned_at = self._retry_at is not None, None, None
        if was_open:
            logger.info("Cache at %s answers again", self.name)


_breakers: dict[tuple[str, float], Breaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(location: str, window: float) -> Breaker:
    # Django makes a cache object per thread; the breaker is per process, so that one thread's
    # timeout spares the others.
    with _breakers_lock:
        key = (location, window)
        if key not in _breakers:
            _breakers[key] = Breaker(_without_credentials(location), window)
        return _breakers[key]


def reset_breakers() -> None:
    """Forget every outage and every client (tests that point the cache at a broken Redis start from
    a closed breaker and new connections)."""
    with _breakers_lock:
        _breakers.clear()
        _clients.clear()


class SharedRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client with one redis-py client per connection pool, not one per operation."""

    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._redis_clients: dict[int, Any] = {}  # by id() of the pool it uses; the pools live as long

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._redis_clients.get(id(pool))
        if client is None:
            # Two threads may both make one at first; either serves, on the same pool.
            client = self._redis_clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


_clients: dict[tuple[tuple[str, ...], str], RedisCacheClient] = {}


def client_for(servers: list[str], options: dict[str, Any]) -> RedisCacheClient:
    """The process's client for these servers and options, made once: its connection pools are
    thread-safe (and redis-py opens new ones after a fork), so every cache object shares them."""
    key = (tuple(servers), repr(sorted(options.items())))
    with _breakers_lock:
        if key not in _clients:
            _clients[key] = SharedRedisCacheClient(servers, **options)
        return _clients[key]


def _without_credentials(location: str) -> str:
    """``redis://:secret@host:6379/0`` as ``redis://host:6379/0``: the log must not carry a password."""
    parts = urlsplit(location)
    if not parts.hostname:
        return parts.scheme + "://" if parts.scheme else "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


class FailSoftRedisCache(RedisCache):
    """Django's Redis cache whose every operation answers as a miss while Redis is unavailable."""

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        window = float(options.pop("failure_window", FAILURE_WINDOW))
        super().__init__(server, {**params, "OPTIONS": options})
        self.breaker = breaker_for(",".join(self._servers), window)

    @cached_property
    def _cache(self) -> RedisCacheClient:
        return client_for(self._servers, self._options)

    def _soft(self, fallback: Any, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self.breaker.allow():
            return fallback
        try:
            result = operation(*args, **kwargs)
        except UNAVAILABLE as error:
            self.breaker.failed(error)
            return fallback
        self.breaker.succeeded()
        return result

    # Each operation answers as it would for a key that is not there. decr, get_or_set,
    # incr_version and the async variants are built on these by BaseCache.

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._soft(default, super().get, key, default, version)

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._soft({}, super().get_many, keys, version)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._soft(False, super().has_key, key, version)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._soft(False, super().add, key, value, timeout, version)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._soft(None, super().set, key, value, timeout, version)

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        # The contract: the keys that were not stored.
        return self._soft(list(data), super().set_many, data, timeout, version)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._soft(False, super().touch, key, timeout, version)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._soft(False, super().delete, key, version)

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._soft(None, super().delete_many, keys, version)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        result = self._soft(_MISSING, super().incr, key, delta, version)
        if result is _MISSING:
            raise ValueError(f"Key '{key}' not found.")  # what incr says of a missing key
        return result

    def clear(self) -> bool:
        return self._soft(False, super().clear)
