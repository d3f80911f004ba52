"""The notifications WebSocket at ``/ws/notifications/``.

Who hears what: staff join ``staff``; a tutor joins ``tutor.<user id>``; either may ``watch`` a
session it is allowed to see and then hears that session's ``slot.updated``. On connect the server
says ``hello`` with the unread count, then replays the person's notifications newer than
``?since=<notification id>``, so a client that reconnects misses nothing it was owed.

Client frames (JSON objects, at most ``MAX_FRAME_BYTES``)::

    {"action": "watch", "session": 12}      {"action": "unwatch", "session": 12}
    {"action": "mark_read", "id": 345}      {"action": "mark_all_read"}

Every refusal is an ``{"type": "error", "error": <code>, "detail": <sentence>}`` frame; the socket
stays open, except for a frame over the size limit, which closes it with 1009 (message too big).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from realtime import inbox
from realtime.events import TITLES, session_group, staff_group, tutor_group
from realtime.models import Notification

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_BIG = 1009
MAX_FRAME_BYTES = 4096  # the largest legitimate frame is ~60 bytes
REPLAY_LIMIT = 200  # a client further behind than this reloads the page (the hello says so)
MAX_WATCHED = 100  # a dashboard watches its table of next sessions, never hundreds


def is_tutor(user: Any) -> bool:
    return getattr(user, "role", "") == "tutor" and not user.is_superuser


def notification_frame(notification: Notification) -> dict[str, Any]:
    """A stored notification as the client sees it: the original envelope plus its id and flags."""
    envelope = notification.data if isinstance(notification.data, dict) else {}
    return {
        "type": notification.type,
        "id": envelope.get("id", ""),
        "at": envelope.get("at", notification.created_at.isoformat()),
        "data": envelope.get("data", {}),
        "notification": notification.pk,
        "title": notification.title,
        "message": notification.message,
        "read": notification.read,
        "mine": True,
        "replay": True,
    }


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: set[str]
    watched: set[int]

    async def connect(self) -> None:
        self.groups_joined, self.watched = set(), set()
        user = self.scope.get("user")
        # Accept, then close with a code: a refusal before accepting reaches the browser as a
        # bare HTTP 403, and the client could not tell "log in again" from a network fault.
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not user.is_staff:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        await self.join(tutor_group(user.pk) if is_tutor(user) else staff_group())
        unread, last, backlog, more = await self.greeting(self.since())
        # "last": the newest notification id now, the client's ``since`` for its next reconnect;
        # "truncated": more was owed than is replayed, the client should reload what it shows.
        await self.send_json({"type": "hello", "unread": unread, "last": last, "truncated": more})
        for notification in backlog:
            await self.send_json(notification_frame(notification))

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.add(group)

    def since(self) -> int | None:
        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("since")
        if not values:
            return None
        try:
            since = int(values[0])
        except ValueError:
            return None
        return since if since >= 0 else None

    # --- Incoming frames ---------------------------------------------------------------------------

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        text, data = message.get("text"), message.get("bytes")
        size = len(text.encode()) if text is not None else len(data or b"")
        if size > MAX_FRAME_BYTES:
            await self.error("too_big", f"Frames are limited to {MAX_FRAME_BYTES} bytes.")
            await self.close(code=CLOSE_TOO_BIG)
            return
        if text is None:
            await self.error("malformed", "Send JSON text frames.")
            return
        try:
            content = json.loads(text)
        except ValueError:
            await self.error("malformed", "The frame is not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self.error("malformed", "Send a JSON object with an 'action'.")
            return
        handler = {
            "watch": self.watch,
            "unwatch": self.unwatch,
            "mark_read": self.mark_read,
            "mark_all_read": self.mark_all_read,
        }.get(content.get("action"))
        if handler is None:
            await self.error("unknown_action", "Actions are watch, unwatch, mark_read and mark_all_read.")
            return
        await handler(content)

    async def watch(self, content: dict[str, Any]) -> None:
        session_id = positive_int(content.get("session"))
        if session_id is None:
            await self.error("malformed", "'session' must be a session id.", action="watch")
        elif session_id in self.watched:
            await self.send_json({"type": "watching", "session": session_id})
        elif len(self.watched) >= MAX_WATCHED:
            await self.error("too_many", f"At most {MAX_WATCHED} sessions can be watched.", action="watch")
        elif not await self.may_watch(session_id):
            # The same answer for "no such session" and "not yours": ids are not to be probed.
            await self.error("forbidden", "You cannot watch this session.", action="watch", session=session_id)
        else:
            await self.join(session_group(session_id))
            self.watched.add(session_id)
            await self.send_json({"type": "watching", "session": session_id})

    async def unwatch(self, content: dict[str, Any]) -> None:
        session_id = positive_int(content.get("session"))
        if session_id is None:
            await self.error("malformed", "'session' must be a session id.", action="unwatch")
            return
        if session_id in self.watched:
            group = session_group(session_id)
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.discard(group)
            self.watched.discard(session_id)
        await self.send_json({"type": "unwatched", "session": session_id})

    async def mark_read(self, content: dict[str, Any]) -> None:
        notification_id = positive_int(content.get("id"))
        if notification_id is None:
            await self.error("malformed", "'id' must be a notification id.", action="mark_read")
            return
        found, unread = await self.read(notification_id)
        if not found:
            await self.error("not_found", "No such notification of yours.", action="mark_read", id=notification_id)
            return
        await self.send_json({"type": "unread", "unread": unread})

    async def mark_all_read(self, content: dict[str, Any]) -> None:
        await self.read(None)
        await self.send_json({"type": "unread", "unread": 0})

    async def error(self, code: str, detail: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "error": code, "detail": detail, **extra})

    # --- Events from the channel layer -----------------------------------------------------------

    async def event_message(self, message: dict[str, Any]) -> None:
        event = message["event"]
        # The title the bell stores, so the page's toast says the same; "mine": a notification was
        # stored for this person, so the bell's count goes up by one.
        event = {**event, "title": TITLES.get(event.get("type"), "")}
        if self.user.pk in message.get("for", ()):
            event["mine"] = True
        await self.send_json(event)

    # --- Database --------------------------------------------------------------------------------

    @database_sync_to_async
    def greeting(self, since: int | None) -> tuple[int, int, list[Notification], bool]:
        mine = Notification.objects.filter(recipient=self.user)
        unread = mine.filter(read=False).count()
        last = mine.order_by("-pk").values_list("pk", flat=True).first() or 0
        if since is None:
            return unread, last, [], False
        backlog = list(mine.filter(pk__gt=since).order_by("pk")[: REPLAY_LIMIT + 1])
        return unread, last, backlog[:REPLAY_LIMIT], len(backlog) > REPLAY_LIMIT

    @database_sync_to_async
    def may_watch(self, session_id: int) -> bool:
        from bookings.models import Session

        sessions = Session.objects.filter(pk=session_id)
        if is_tutor(self.user):
            sessions = sessions.filter(tutor__user=self.user)  # operators and managers see every session
        return sessions.exists()

    @database_sync_to_async
    def read(self, notification_id: int | None) -> tuple[bool, int]:
        mine = Notification.objects.filter(recipient=self.user)
        if notification_id is None:
            inbox.mark_read(mine, user_id=self.user.pk)
            return True, 0
        if not mine.filter(pk=notification_id).exists():
            return False, 0
        inbox.mark_read(mine.filter(pk=notification_id), user_id=self.user.pk)
        return True, mine.filter(read=False).count()


def positive_int(value: Any) -> int | None:
    # bool is an int in Python; {"session": true} is not a session id.
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value
