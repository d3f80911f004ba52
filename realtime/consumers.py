"""The notifications WebSocket at ``/ws/notifications/``.

Who hears what: staff join ``staff``; a tutor joins ``tutor.<user id>``; either may ``watch`` a
session it is allowed to see and then hears that session's ``slot.updated``. On connect the server
says ``hello`` with the unread count, then replays the person's notifications newer than
``?since=<notification id>``, so a client that reconnects misses nothing it was owed. The event
groups are heard through the process's fan-out (realtime/fanout.py: one layer membership per
process and group). Every socket also joins ``user.<user id>`` on its own channel, where it hears
when its person's access changed (realtime/access.py).

The API's apps authenticate with their access token instead of a cookie, sent as the WebSocket
subprotocols ``bearer, <access token>`` (``new WebSocket(url, ["bearer", token])``): a header, so
the token is never written to an access log as a query string would be. The socket is accepted
with the subprotocol ``bearer``; the token is checked once, when connecting (an app whose token
expired connects again with a fresh one after a 4401). A student may only connect this way: they
join ``student.<user id>`` and hear their own bookings' events, and may ``watch`` a session they
can book or have booked, of which they hear only ``slot.updated`` (a session's group also
carries other students' booking events, for staff).

Client frames (JSON objects, at most ``MAX_FRAME_BYTES``)::

    {"action": "watch", "session": 12}      {"action": "unwatch", "session": 12}
    {"action": "mark_read", "id": 345}      {"action": "mark_all_read"}

Every refusal is an ``{"type": "error", "error": <code>, "detail": <sentence>}`` frame and the
socket stays open, except for a frame over the size limit, which gets its error frame and then
closes the socket with 4413.

Close codes (4000 + the HTTP status that means the same, where there is one). Browsers and
daphne's WebSocket library only send 1000 or 3000-4999 as an application's close: 1008 or 1009
would make daphne fail the socket with 1011 instead.

- 4000: connect again: access changed (a new role, a new password), and the new connection is
  authorised afresh from the session cookie; or this process lost the channel layer, and the new
  connection replays what was stored meanwhile (``?since=``).
- 4401: not logged in, or this login session has ended (logged out), or the API access token is
  not valid (expired, a refresh token, tampered with). The client stops (an app refreshes its
  token first).
- 4403: not allowed: not staff (nor a student with a token), or no longer (deactivated, deleted,
  the role taken away). The client stops.
- 4413: a frame over ``MAX_FRAME_BYTES``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import HASH_SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken

from api.authentication import JWTAuthentication
from realtime import inbox
from realtime.access import session_digest, user_group
from realtime.events import LAYER_MESSAGE_TYPE, TITLES, session_group, staff_group, student_group, tutor_group
from realtime.fanout import fanout_for
from realtime.models import Notification

try:  # what daphne (autobahn) raises when the application sends on a socket the client has left
    from autobahn.exception import Disconnected
except ImportError:  # another ASGI server: the ASGI spec asks for an OSError subclass
    Disconnected = OSError

logger = logging.getLogger(__name__)

CLOSE_RECONNECT = 4000
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_BIG = 4413
MAX_FRAME_BYTES = 4096  # the largest legitimate frame is ~60 bytes
REPLAY_LIMIT = 200  # a client further behind than this reloads the page (the hello says so)
MAX_WATCHED = 100  # a dashboard watches its table of next sessions, never hundreds
MAX_ID = 2**63 - 1  # a primary key (BigAutoField); a larger number is no id and no query is made
# Sending on a socket the client has already closed (a page left during the hello or the replay).
CLIENT_GONE = (OSError, Disconnected)
FRAMES_KEY = "_frames"  # in a layer message: its frame text, encoded by the first socket to send it
BEARER = "bearer"  # the subprotocol an app offers first, its access token second
SLOT_UPDATED = "slot.updated"


def is_tutor(user: Any) -> bool:
    from bookings.selectors import sees_own_only

    return sees_own_only(user)


def is_student(user: Any) -> bool:
    return getattr(user, "role", "") == "student" and not user.is_staff


def may_listen(user: Any, *, via_token: bool) -> bool:
    """Staff (cookie or token); a student only with an API token (they have no back-office login)."""
    return user.is_active and (user.is_staff or (via_token and is_student(user)))


def listening_group(user: Any) -> str:
    """The group whose events a person hears: their own as a tutor or a student, else ``staff``."""
    if is_student(user):
        return student_group(user.pk)
    return tutor_group(user.pk) if is_tutor(user) else staff_group()


@database_sync_to_async
def token_user(raw: str) -> Any:
    """The active user of a valid API access token (simplejwt's checks: signature, expiry, type), or None."""
    authentication = JWTAuthentication()
    try:
        return authentication.get_user(authentication.get_validated_token(raw.encode()))
    except (InvalidToken, AuthenticationFailed, UnicodeError):
        return None


class SlotsOnly:
    """A student's membership of a session group: only its ``slot.updated`` is relayed to them."""

    def __init__(self, consumer: NotificationConsumer) -> None:
        self.consumer = consumer

    async def relay(self, message: dict[str, Any]) -> None:
        if message.get("event", {}).get("type") == SLOT_UPDATED:
            await self.consumer.relay(message)

    async def lost_layer(self) -> None:
        await self.consumer.lost_layer()


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
    groups_joined: dict[str, Any]  # event group -> its member in the fan-out (realtime/fanout.py)
    control_groups: set[str]  # ``user.<id>``, heard on this socket's own channel
    watched: set[int]
    # Set once the socket is closing or the client has gone: nothing more is sent on it.
    done: bool = False
    via_token: bool = False  # authenticated by an API access token, not the session cookie

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.leave_all()  # also when the consumer failed: the fan-out drops this socket

    async def connect(self) -> None:
        self.groups_joined, self.control_groups, self.watched = {}, set(), set()
        user = self.scope.get("user")
        protocols = self.scope.get("subprotocols") or []
        self.via_token = bool(protocols) and protocols[0] == BEARER
        if self.via_token:
            user = await token_user(protocols[1]) if len(protocols) == 2 else None
        # Accept, then close with a code: a refusal before accepting reaches the browser as a
        # bare HTTP 403, and the client could not tell "log in again" from a network fault.
        await self.accept(subprotocol=BEARER if self.via_token else None)
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not may_listen(user, via_token=self.via_token):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        self.user_id = user.pk  # read per event: a plain int, not the lazy scope user
        self.listening = listening_group(user)
        session_key = None if self.via_token else getattr(self.scope.get("session"), "session_key", None)
        self.session = session_digest(session_key) if session_key else None
        # First: a logout from now on closes this socket.
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        self.control_groups.add(user_group(user.pk))
        await self.join(self.listening)
        unread, last, backlog, more = await self.greeting(self.since())
        # "last": the newest notification id now, the client's ``since`` for its next reconnect;
        # "truncated": more was owed than is replayed, the client should reload what it shows.
        await self.send_json({"type": "hello", "unread": unread, "last": last, "truncated": more})
        for notification in backlog:
            if self.done:
                break
            await self.send_json(notification_frame(notification))

    async def disconnect(self, code: int) -> None:
        self.done = True
        await self.leave_all()

    async def join(self, group: str, member: Any = None) -> None:
        member = member or self
        await fanout_for(self.channel_layer).join(group, member)
        self.groups_joined[group] = member

    async def leave(self, group: str) -> None:
        member = self.groups_joined.pop(group, None)
        if member is not None:
            await fanout_for(self.channel_layer).leave(group, member)

    async def leave_all(self) -> None:
        groups, self.groups_joined = getattr(self, "groups_joined", {}), {}
        for group, member in groups.items():
            await fanout_for(self.channel_layer).leave(group, member)
        controls, self.control_groups = getattr(self, "control_groups", set()), set()
        for group in controls:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def send_json(self, content: Any, close: bool = False) -> None:
        # Through our ``send`` (channels' send_json goes straight to its parent's).
        await self.send(text_data=await self.encode_json(content), close=close)

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        if self.done:
            return
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except CLIENT_GONE:
            # The client closed while we were talking (a page left during the hello or the
            # replay): daphne hears of it only after this send. Nobody is left to tell; stop
            # here instead of failing the consumer, which daphne logged as an exception.
            self.done = True
            await self.leave_all()

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        if self.done:
            return
        self.done = True
        # Leave the groups now, not at the disconnect: no event is sent after the close frame.
        await self.leave_all()
        with contextlib.suppress(*CLIENT_GONE):
            await super().close(code=code, reason=reason)

    def since(self) -> int | None:
        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("since")
        if not values:
            return None
        try:
            since = int(values[0])
        except ValueError:
            return None
        return since if 0 <= since <= MAX_ID else None

    # --- Incoming frames ---------------------------------------------------------------------------

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if self.done:
            return
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
        except RecursionError:  # e.g. 2,000 nested arrays: 4,000 bytes, under the size limit
            await self.error("malformed", "The frame is nested too deeply.")
            return
        except ValueError:
            await self.error("malformed", "The frame is not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self.error("malformed", "Send a JSON object with an 'action'.")
            return
        action = content.get("action")
        handler = {
            "watch": self.watch,
            "unwatch": self.unwatch,
            "mark_read": self.mark_read,
            "mark_all_read": self.mark_all_read,
        }.get(action if isinstance(action, str) else "")  # a list or an object is no action (nor hashable)
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
            # A student hears a session's seats, not the other students' bookings in it.
            await self.join(session_group(session_id), SlotsOnly(self) if is_student(self.user) else None)
            self.watched.add(session_id)
            await self.send_json({"type": "watching", "session": session_id})

    async def unwatch(self, content: dict[str, Any]) -> None:
        session_id = positive_int(content.get("session"))
        if session_id is None:
            await self.error("malformed", "'session' must be a session id.", action="unwatch")
            return
        if session_id in self.watched:
            await self.leave(session_group(session_id))
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

    async def relay(self, message: dict[str, Any]) -> None:
        """A message of one of this socket's event groups, from the process's fan-out."""
        if message.get("type") == LAYER_MESSAGE_TYPE:
            await self.event_message(message)

    async def lost_layer(self) -> None:
        """The fan-out lost the channel layer: connect again (and replay what was stored meanwhile)."""
        await self.close(code=CLOSE_RECONNECT)

    async def event_message(self, message: dict[str, Any]) -> None:
        if self.done:
            return
        mine = self.user_id in message.get("for", ())
        # channels-redis hands the *same* message to every socket of this process in the group
        # (the in-memory layer a copy each), so the frame is encoded once per event, not once per
        # socket: a staff event reaches every staff screen. Two variants at most: mine or not.
        frames = message.setdefault(FRAMES_KEY, {})
        text = frames.get(mine)
        if text is None:
            # The title the bell stores, so the page's toast says the same; "mine": a notification
            # was stored for this person, so the bell's count goes up by one.
            event = {**message["event"], "title": TITLES.get(message["event"].get("type"), "")}
            if mine:
                event["mine"] = True
            text = frames[mine] = await self.encode_json(event)
        await self.send(text_data=text)

    # --- Access changes (realtime/access.py) -------------------------------------------------------

    async def access_ended(self, message: dict[str, Any]) -> None:
        """A login session of this person ended (logout): close if it is the one this socket uses."""
        if self.session is not None and constant_time_compare(message.get("session", ""), self.session):
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def access_changed(self, message: dict[str, Any]) -> None:
        """This person was changed or deleted: close unless they may go on hearing what they hear."""
        code = await self.recheck()
        if code is not None:
            await self.close(code=code)

    @database_sync_to_async
    def recheck(self) -> int | None:
        user = get_user_model().objects.filter(pk=self.user_id).first()
        if user is None or not may_listen(user, via_token=self.via_token):
            return CLOSE_FORBIDDEN
        session = self.scope.get("session")
        # A new password ends the person's other login sessions (Django checks this hash on every
        # request); the one that changed it carries on under a new key. The reconnect tells which
        # this socket was.
        if (
            session is not None
            and self.session is not None
            and not constant_time_compare(session.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())
        ):
            return CLOSE_RECONNECT
        if listening_group(user) != self.listening:
            return CLOSE_RECONNECT  # a new role: the reconnect joins the right group
        return None

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
        from bookings.models import Booking
        from bookings.selectors import bookable_sessions, sessions_visible_to

        if is_student(self.user):  # a session they could book now, or one they have booked
            booked = Booking.objects.filter(session_id=session_id, student=self.user).exists()
            return booked or bookable_sessions(self.user).filter(pk=session_id).exists()
        return sessions_visible_to(self.user).filter(pk=session_id).exists()  # a tutor: their own

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
    # bool is an int in Python; {"session": true} is not a session id. Past MAX_ID the database
    # would fail the query (bigint out of range) rather than find nothing.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        return None
    return value
