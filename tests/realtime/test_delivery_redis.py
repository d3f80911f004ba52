"""The channels-redis route: envelopes leave from the courier's long-lived loop after commit."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from channels.layers import get_channel_layer

from bookings import services
from realtime import delivery
from tests.factories import SessionFactory, StudentFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_it_delivers_a_committed_booking_to_a_listener_on_redis(settings):
    if "RedisChannelLayer" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        pytest.fail("REDIS_URL is set but the channel layer is not channels-redis")
    layer = get_channel_layer()
    session = SessionFactory()
    student = StudentFactory()

    async def listen_for(count: int) -> list[dict]:
        channel = await layer.new_channel()
        await layer.group_add(f"session.{session.pk}", channel)
        try:
            return [await asyncio.wait_for(layer.receive(channel), timeout=5) for _ in range(count)]
        finally:
            await layer.group_discard(f"session.{session.pk}", channel)

    async def scenario() -> list[dict]:
        listener = asyncio.create_task(listen_for(2))
        await asyncio.sleep(0.2)  # let the listener join before the booking commits
        booking = await asyncio.to_thread(services.book, session=session, student=student)
        await asyncio.to_thread(delivery.flush)
        received = await listener
        return [booking, received]

    booking, received = asyncio.run(scenario())
    types = [message["event"]["type"] for message in received]
    assert types == ["booking.created", "slot.updated"]
    assert received[0]["event"]["data"]["reference"] == booking.reference
    assert received[1]["event"]["data"]["seats_taken"] == 1


def test_it_delivers_events_in_the_order_they_were_committed():
    from realtime import events

    layer = get_channel_layer()
    group = "staff"

    async def scenario() -> list[int]:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            for n in range(50):  # outside a transaction: each publish goes out at once
                await asyncio.to_thread(events.publish, "slot.updated", {"session": n}, groups=[group])
            await asyncio.to_thread(delivery.flush)
            received = [await asyncio.wait_for(layer.receive(channel), timeout=5) for _ in range(50)]
        finally:
            await layer.group_discard(group, channel)
        return [message["event"]["data"]["session"] for message in received]

    assert asyncio.run(scenario()) == list(range(50))


BURST = 600  # six times channels-redis's default capacity of 100 per channel


def burst_received(layer) -> list[int]:
    """Publish BURST events in one transaction to a socket that is busy (not reading), then drain it."""
    from django.db import transaction

    from realtime import events

    group = f"burst-{id(layer)}"

    async def scenario() -> list[int]:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:

            def publish_burst() -> None:
                with transaction.atomic():
                    events.publish_many([("slot.updated", {"session": n}, [group], ()) for n in range(BURST)])
                delivery.flush(timeout=30)

            await asyncio.to_thread(publish_burst)
            received = []
            while True:
                try:
                    received.append(await asyncio.wait_for(layer.receive(channel), timeout=0.5))
                except TimeoutError:
                    return [message["event"]["data"]["session"] for message in received]
        finally:
            await layer.group_discard(group, channel)

    return asyncio.run(scenario())


def test_a_burst_larger_than_the_default_capacity_loses_nothing():
    assert burst_received(get_channel_layer()) == list(range(BURST))


def test_the_default_capacity_would_have_dropped_most_of_that_burst(settings):
    """The control for the test above: why capacity is set at all."""
    from channels_redis.core import RedisChannelLayer

    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    default_layer = RedisChannelLayer(hosts=config["hosts"], prefix="seatdesk-default-capacity")
    with mock.patch.object(delivery, "get_channel_layer", return_value=default_layer):
        received = burst_received(default_layer)
    assert len(received) <= 101 < BURST


def test_deliveries_queued_while_the_courier_sends_go_out_together_in_order():
    """A burst of commits (a provider's retry storm) while the courier waits on Redis: what queued
    meanwhile is sent as one batch -- one read of the groups' members -- and every message arrives,
    in commit order."""
    import threading

    from realtime import events

    layer = get_channel_layer()
    group = f"batch-{id(layer)}"
    sends: list[int] = []
    real = layer.group_send_many

    async def counted(messages):
        sends.append(len(messages))
        return await real(messages)

    async def scenario() -> list[int]:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        started, release = threading.Event(), threading.Event()

        def first() -> list:
            started.set()
            release.wait(5)  # the courier is busy with this one while the others queue up
            return delivery._layer_messages([({"type": "slot.updated", "data": {"session": 0}}, [group], [])])

        def burst() -> None:
            delivery._courier.submit(layer, first)
            started.wait(5)
            for n in range(1, 21):
                events.publish("slot.updated", {"session": n}, groups=[group])
            release.set()
            delivery.flush()

        try:
            with mock.patch.object(layer, "group_send_many", counted):
                await asyncio.to_thread(burst)
            received = [await asyncio.wait_for(layer.receive(channel), timeout=5) for _ in range(21)]
        finally:
            await layer.group_discard(group, channel)
        return [message["event"]["data"]["session"] for message in received]

    assert asyncio.run(scenario()) == list(range(21))
    assert sends == [1, 20]  # the first alone, the twenty queued behind it together
