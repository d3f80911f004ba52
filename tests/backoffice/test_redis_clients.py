"""Every Redis client the project makes reads for longer than its own blocking commands wait.

redis-py 8 made 5 s its default read timeout. channels-redis blocks on BZPOPMIN for exactly 5 s,
so every quiet WebSocket died with "Timeout reading" (the end-to-end proofs are in
tests/realtime/test_consumer.py and test_live_daphne.py, which idle sockets for 15 s). The
cache's short timeouts are tested with the Redis outage (test_redis_outage.py).
"""

from __future__ import annotations

import uuid

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

pytestmark = pytest.mark.redis

DJANGO_Q_BLPOP_WAIT = 1  # seconds: django_q/brokers/redis_broker.py dequeue() -> blpop(key, 1)


def test_the_channel_layer_reads_well_past_its_blocking_receive():
    layer = get_channel_layer()
    assert isinstance(layer, RedisChannelLayer)
    options = layer.create_pool(0).connection_kwargs
    assert options["socket_timeout"] >= 2 * RedisChannelLayer.brpop_timeout
    assert options["socket_keepalive"] is True
    assert options["health_check_interval"] > 0


def test_the_task_broker_reads_well_past_its_blocking_dequeue():
    from django_q.brokers import get_broker

    broker = get_broker(list_key=f"test-{uuid.uuid4().hex[:8]}")
    options = broker.connection.connection_pool.connection_kwargs
    assert options["socket_timeout"] >= 2 * DJANGO_Q_BLPOP_WAIT
    assert options["socket_keepalive"] is True
    assert options["health_check_interval"] > 0
    try:
        assert broker.dequeue() is None  # an empty queue: the 1 s BLPOP comes back empty, no timeout
        broker.enqueue("signed-task")
        assert broker.dequeue() == [(None, b"signed-task")]
    finally:
        broker.delete_queue()
