"""The notifications WebSocket: staff join ``staff``, tutors join ``tutor.<user id>``."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from realtime.events import staff_group, tutor_group
from realtime.models import Notification

CLOSE_UNAUTHENTICATED = 4401


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.groups_joined = []
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        group = tutor_group(user.pk) if getattr(user, "role", "") == "tutor" else staff_group()
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.append(group)
        await self.accept()
        await self.send_json({"type": "hello", "unread": await self.unread_count()})

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def event_message(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    @database_sync_to_async
    def unread_count(self) -> int:
        return Notification.objects.filter(recipient=self.user, read=False).count()
