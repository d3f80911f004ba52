from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from backoffice.asgi import application
from realtime.consumers import NotificationConsumer
from realtime.events import LAYER_MESSAGE_TYPE
from realtime.models import Notification
from tests.factories import OperatorFactory, TutorFactory

pytestmark = pytest.mark.django_db(transaction=True)


def connect(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(NotificationConsumer.as_asgi(), "/ws/notifications/")
    communicator.scope["user"] = user
    return communicator


async def test_it_closes_an_anonymous_connection_with_4401():
    communicator = connect(AnonymousUser())
    connected, code = await communicator.connect()
    assert (connected, code) == (False, 4401)


async def test_it_greets_staff_with_their_unread_count_and_relays_staff_events():
    operator = await database_sync_to_async(OperatorFactory)()
    await database_sync_to_async(Notification.objects.create)(recipient=operator, type="booking.created", title="x")
    communicator = connect(operator)
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from() == {"type": "hello", "unread": 1}

    event = {"type": "booking.created", "id": "1", "at": "2026-11-21T10:00:00Z", "data": {"booking": 1}}
    await get_channel_layer().group_send("staff", {"type": LAYER_MESSAGE_TYPE, "event": event})
    assert await communicator.receive_json_from() == event
    await communicator.disconnect()


async def test_it_puts_a_tutor_in_their_own_group_only():
    tutor = await database_sync_to_async(TutorFactory)()
    communicator = connect(tutor.user)
    assert (await communicator.connect())[0]
    await communicator.receive_json_from()  # hello

    layer = get_channel_layer()
    await layer.group_send("staff", {"type": LAYER_MESSAGE_TYPE, "event": {"type": "slot.updated"}})
    assert await communicator.receive_nothing(timeout=0.2)
    mine = {"type": "booking.created", "data": {}}
    await layer.group_send(f"tutor.{tutor.user_id}", {"type": LAYER_MESSAGE_TYPE, "event": mine})
    assert await communicator.receive_json_from() == mine
    await communicator.disconnect()


async def test_the_asgi_router_refuses_a_foreign_origin():
    communicator = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected
