"""``realtime.layers.RedisChannelLayer.group_send_many``: what channels-redis's ``group_send`` would
deliver, message by message, with the groups' members read in one round trip per server."""

from __future__ import annotations

import asyncio
import time
import uuid
from unittest import mock

import pytest
from django.conf import settings

from realtime.layers import RedisChannelLayer

pytestmark = pytest.mark.redis


def new_layer() -> RedisChannelLayer:
    hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    return RedisChannelLayer(hosts=hosts, prefix=f"test-{uuid.uuid4().hex[:8]}")


def test_each_member_gets_its_groups_messages_in_order_and_empty_groups_are_not_sent_to():
    layer = new_layer()

    async def scenario():
        staff, student = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("staff", staff)
        await layer.group_add("student.1", student)
        messages = [
            ({"type": "event.message", "n": 1}, ["staff", "session.1", "student.1"]),
            ({"type": "event.message", "n": 2}, ["staff"]),
            ({"type": "event.message", "n": 3}, ["session.1", "student.1"]),
        ]
        with mock.patch.object(layer, "group_send", wraps=layer.group_send) as sent:
            await layer.group_send_many(messages)
        staff_got = [(await layer.receive(staff))["n"] for _ in range(2)]
        student_got = [(await layer.receive(student))["n"] for _ in range(2)]
        with pytest.raises(TimeoutError):  # nothing else for the staff
            await asyncio.wait_for(layer.receive(staff), 0.3)
        await layer.flush()
        return staff_got, student_got, [call.args[0] for call in sent.call_args_list]

    staff_got, student_got, groups_sent = asyncio.run(scenario())

    assert staff_got == [1, 2]
    assert student_got == [1, 3]
    assert groups_sent == ["staff", "student.1", "staff", "student.1"]  # never "session.1": nobody in it


def test_a_member_past_the_group_expiry_is_dropped_as_group_send_drops_it():
    layer = new_layer()

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("staff", channel)
        # The member joined longer ago than the group expiry allows.
        await layer.connection(0).zadd(layer._group_key("staff"), {channel: time.time() - layer.group_expiry - 10})
        with mock.patch.object(layer, "group_send", wraps=layer.group_send) as sent:
            await layer.group_send_many([({"type": "event.message"}, ["staff"])])
        left = await layer.connection(0).zcard(layer._group_key("staff"))
        await layer.flush()
        return sent.call_count, left

    assert asyncio.run(scenario()) == (0, 0)


def test_a_batch_reads_the_members_of_all_its_groups_in_one_round_trip():
    layer = new_layer()

    async def scenario():
        connection = layer.connection(0)
        with mock.patch.object(
            type(connection), "execute_command", autospec=True, wraps=type(connection).execute_command
        ) as single:
            await layer.group_send_many([({"type": "event.message"}, [f"group.{n}"]) for n in range(20)])
        await layer.flush()
        return single.call_count

    assert asyncio.run(scenario()) == 0  # every read went through the one pipeline
