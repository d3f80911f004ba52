"""The fail-soft Redis cache (backoffice/cache.py): while Redis is unavailable every operation answers
as for a missing key, a failure keeps Redis out of the way for a window (one call then tries
again), the outage is one WARNING line per window and its end one INFO line, and with Redis up it
is Django's Redis cache."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from django.core.cache import caches
from redis.exceptions import ConnectionError as RedisConnectionError

from backoffice.cache import Breaker, FailSoftRedisCache, reset_breakers
from backoffice.settings import redis_cache
from tests import broken_redis

LOGGER = "backoffice.cache"


@pytest.fixture
def refused(settings) -> Iterator[str]:
    reset_breakers()
    with broken_redis.refusing() as url:
        settings.CACHES = {"default": redis_cache(url)}
        yield url


def test_it_answers_every_operation_as_for_a_missing_key_while_redis_refuses(refused):
    cache = caches["default"]
    assert isinstance(cache, FailSoftRedisCache)

    assert cache.get("k") is None
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["k", "l"]) == {}
    assert cache.has_key("k") is False
    assert "k" not in cache
    assert cache.add("k", 1) is False
    assert cache.set("k", 1) is None
    assert cache.set_many({"k": 1, "l": 2}) == ["k", "l"]  # the keys that were not stored
    assert cache.touch("k") is False
    assert cache.delete("k") is False
    assert cache.delete_many(["k", "l"]) is None
    assert cache.get_or_set("k", lambda: 42) == 42
    assert cache.clear() is False
    with pytest.raises(ValueError, match="not found"):
        cache.incr("k")
    with pytest.raises(ValueError, match="not found"):
        cache.decr("k")
    assert asyncio.run(cache.aget("k", "default")) == "default"


def test_a_failure_keeps_redis_out_of_the_way_for_the_window(refused, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    cache = caches["default"]

    for _ in range(20):
        assert cache.get("k") is None

    assert cache.breaker.open
    assert [r.levelname for r in caplog.records if r.name == LOGGER] == ["WARNING"]


def test_the_log_line_names_the_redis_without_its_password(settings, caplog):
    reset_breakers()
    with broken_redis.refusing() as url:
        settings.CACHES = {"default": redis_cache(url.replace("redis://", "redis://:s3cret@"))}
        caches["default"].get("k")

    line = caplog.records[-1].getMessage()
    assert line.startswith(f"Cache at {url} is unavailable (ConnectionError: ")
    assert "s3cret" not in caplog.text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_lets_one_call_try_again_after_the_window_and_closes_on_success(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = Clock()
    breaker = Breaker("redis://cache:6379/1", 10, clock=clock)
    assert breaker.allow()

    breaker.failed(RedisConnectionError("refused"))
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()  # this call tries Redis again...
    assert not breaker.allow()  # ...and the others keep skipping it meanwhile

    breaker.succeeded()
    assert breaker.allow() and breaker.allow()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "Cache at redis://cache:6379/1 is unavailable (ConnectionError: refused): "
            "serving without it, next try in 10 s",
        ),
        ("INFO", "Cache at redis://cache:6379/1 answers again"),
    ]


def test_the_breaker_warns_once_per_window_however_many_calls_fail(caplog):
    clock = Clock()
    breaker = Breaker("redis://cache:6379/1", 10, clock=clock)

    for _ in range(5):  # threads that were all waiting on Redis when it failed
        breaker.failed(RedisConnectionError("timeout"))
    clock.now += 10
    assert breaker.allow()
    breaker.failed(RedisConnectionError("timeout"))  # the retry failed: a new window, a new line

    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]


@pytest.mark.redis
def test_with_redis_up_it_is_djangos_redis_cache(settings):
    reset_breakers()
    settings.CACHES = {"default": {**redis_cache(settings.REDIS_URL), "KEY_PREFIX": "test-fail-soft"}}
    cache = caches["default"]
    cache.delete_many(["k", "n"])

    cache.set("k", {"a": 1}, 30)
    cache.set("n", 1, 30)

    assert cache.get("k") == {"a": 1}
    assert cache.incr("n", 2) == 3
    assert cache.get_many(["k", "n", "missing"]) == {"k": {"a": 1}, "n": 3}
    assert cache.delete("k") is True and cache.get("k") is None
    assert not cache.breaker.open
    cache.delete_many(["k", "n"])
