"""The notifications socket: who may connect, which groups they hear, watch permissions, marking
read, replay after a reconnect, and refusing bad input — on the in-memory layer and on
channels-redis (the ``layer`` fixture runs each test on both when Redis is there)."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from backoffice.asgi import application
from bookings import services
from realtime import delivery
from realtime.consumers import MAX_FRAME_BYTES, REPLAY_LIMIT, NotificationConsumer
from realtime.events import LAYER_MESSAGE_TYPE
from realtime.models import Notification
from tests.factories import LessonFactory, OperatorFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(
    params=["memory", pytest.param("redis", marks=pytest.mark.redis)],
    autouse=True,
)
def layer(request, settings):
    if request.param == "memory":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    else:
        # The project's own Redis connection options (its socket timeouts above all), so a test here
        # fails when they are wrong; a prefix of its own: nothing left over from elsewhere is heard.
        configured = settings.CHANNEL_LAYERS["default"]
        hosts = (
            configured["CONFIG"]["hosts"]
            if configured["BACKEND"] == "realtime.layers.RedisChannelLayer"
            else [os.environ.get("REDIS_URL", "")]
        )
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "realtime.layers.RedisChannelLayer",
                "CONFIG": {"hosts": hosts, "prefix": f"test-{uuid.uuid4().hex[:8]}"},
            }
        }
    return request.param


def connect(user, query: str = "") -> WebsocketCommunicator:
    path = "/ws/notifications/" + (f"?{query}" if query else "")
    communicator = WebsocketCommunicator(NotificationConsumer.as_asgi(), path)
    communicator.scope["user"] = user
    return communicator


async def connected(user, query: str = "") -> tuple[WebsocketCommunicator, dict]:
    communicator = connect(user, query)
    ok, code = await communicator.connect()
    assert ok, code
    return communicator, await communicator.receive_json_from()


async def send_to(group: str, event: dict, recipients: list[int] = ()) -> None:
    await get_channel_layer().group_send(group, {"type": LAYER_MESSAGE_TYPE, "event": event, "for": list(recipients)})


def event(type: str = "booking.created", **data) -> dict:
    return {"type": type, "id": str(uuid.uuid4()), "at": "2026-11-21T10:00:00Z", "data": data}


notify = database_sync_to_async(
    lambda user, n=1: Notification.objects.bulk_create(
        Notification(recipient=user, type="booking.created", title=f"New booking {i}", data=event(booking=i))
        for i in range(n)
    )
)
operator_factory = database_sync_to_async(OperatorFactory)
tutor_factory = database_sync_to_async(TutorFactory)


# --- Who may connect ------------------------------------------------------------------------------


async def close_code(user) -> int:
    """The code a refused socket is closed with (it is accepted first, so the browser sees it)."""
    communicator = connect(user)
    assert (await communicator.connect())[0]
    closing = await communicator.receive_output()
    assert closing["type"] == "websocket.close"
    return closing["code"]


async def test_it_closes_an_anonymous_connection_with_4401():
    assert await close_code(AnonymousUser()) == 4401


async def test_it_closes_a_student_connection_with_4403():
    student = await database_sync_to_async(StudentFactory)()
    assert await close_code(student) == 4403


async def test_the_asgi_router_refuses_a_foreign_origin():
    communicator = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected


# --- Groups ---------------------------------------------------------------------------------------


async def test_it_greets_staff_with_their_unread_count_and_relays_staff_events():
    operator = await operator_factory()
    [note] = await notify(operator)
    communicator, hello = await connected(operator)
    assert hello == {"type": "hello", "unread": 1, "last": note.pk, "truncated": False}

    created = event(booking=1)
    await send_to("staff", created)
    assert await communicator.receive_json_from() == {**created, "title": "New booking"}
    await communicator.disconnect()


async def test_it_marks_events_stored_for_this_person_as_theirs():
    operator = await operator_factory()
    communicator, _ = await connected(operator)
    await send_to("staff", event(booking=1), recipients=[operator.pk])
    assert (await communicator.receive_json_from())["mine"] is True
    await send_to("staff", event(booking=2), recipients=[operator.pk + 1000])
    assert "mine" not in await communicator.receive_json_from()
    await communicator.disconnect()


async def test_it_puts_a_tutor_in_their_own_group_only():
    tutor = await tutor_factory()
    communicator, _ = await connected(tutor.user)
    await send_to("staff", event("slot.updated"))
    await send_to("tutor.999999", event())
    assert await communicator.receive_nothing(timeout=0.2)
    mine = event()
    await send_to(f"tutor.{tutor.user_id}", mine)
    assert await communicator.receive_json_from() == {**mine, "title": "New booking"}
    await communicator.disconnect()


async def test_it_leaves_its_groups_on_disconnect():
    operator = await operator_factory()
    communicator, _ = await connected(operator)
    await communicator.send_json_to({"action": "watch", "session": (await database_sync_to_async(SessionFactory)()).pk})
    assert (await communicator.receive_json_from())["type"] == "watching"
    await communicator.disconnect()
    listener, _ = await connected(await operator_factory())
    await send_to("staff", event())
    assert (await listener.receive_json_from())["type"] == "booking.created"  # the group lives on for others
    await listener.disconnect()


@pytest.mark.parametrize("layer", ["memory"], indirect=True)
async def test_a_processs_staff_sockets_take_each_event_off_the_layer_once(layer):
    """One layer membership per process and group (realtime/fanout.py): a staff event is received
    once and written to every staff socket, not received once per socket (bench/ws_fanout.py)."""
    sockets = [(await connected(await operator_factory()))[0] for _ in range(3)]
    assert len(get_channel_layer().groups["staff"]) == 1
    created = event(booking=1)
    await send_to("staff", created)
    assert [(await s.receive_json_from())["id"] for s in sockets] == [created["id"]] * 3

    for s in sockets[:2]:
        await s.disconnect()
    await send_to("staff", event(booking=2))
    assert (await sockets[2].receive_json_from())["data"] == {"booking": 2}  # the last one still hears
    await sockets[2].disconnect()
    assert "staff" not in get_channel_layer().groups  # the last socket out takes the membership along


# --- Watching a session ---------------------------------------------------------------------------


async def test_staff_may_watch_any_session_and_then_hear_its_seats():
    operator = await operator_factory()
    session = await database_sync_to_async(SessionFactory)()
    communicator, _ = await connected(operator)
    await communicator.send_json_to({"action": "watch", "session": session.pk})
    assert await communicator.receive_json_from() == {"type": "watching", "session": session.pk}
    slot = event("slot.updated", session=session.pk, seats_left=3)
    await send_to(f"session.{session.pk}", slot)
    assert await communicator.receive_json_from() == {**slot, "title": "Seats changed"}

    await communicator.send_json_to({"action": "unwatch", "session": session.pk})
    assert await communicator.receive_json_from() == {"type": "unwatched", "session": session.pk}
    await send_to(f"session.{session.pk}", slot)
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_a_tutor_may_watch_their_own_session_but_not_another_tutors():
    tutor = await tutor_factory()
    own = await database_sync_to_async(SessionFactory)(tutor=tutor)
    other = await database_sync_to_async(SessionFactory)(tutor=await tutor_factory())
    communicator, _ = await connected(tutor.user)

    await communicator.send_json_to({"action": "watch", "session": own.pk})
    assert await communicator.receive_json_from() == {"type": "watching", "session": own.pk}
    await communicator.send_json_to({"action": "watch", "session": other.pk})
    refusal = await communicator.receive_json_from()
    assert (refusal["type"], refusal["error"], refusal["session"]) == ("error", "forbidden", other.pk)

    # Not joined: the other session's seats never reach this tutor.
    await send_to(f"session.{other.pk}", event("slot.updated", session=other.pk))
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_watching_a_session_that_does_not_exist_is_refused_like_a_forbidden_one():
    communicator, _ = await connected(await operator_factory())
    await communicator.send_json_to({"action": "watch", "session": 987654})
    assert (await communicator.receive_json_from())["error"] == "forbidden"
    await communicator.disconnect()


# --- Marking read ---------------------------------------------------------------------------------


async def test_mark_read_marks_one_of_mine_and_answers_with_the_new_count():
    operator = await operator_factory()
    first, _second = await notify(operator, 2)
    communicator, hello = await connected(operator)
    assert hello["unread"] == 2

    await communicator.send_json_to({"action": "mark_read", "id": first.pk})
    assert await communicator.receive_json_from() == {"type": "unread", "unread": 1}
    await database_sync_to_async(first.refresh_from_db)()
    assert first.read and first.read_at is not None
    await communicator.disconnect()


async def test_mark_read_of_someone_elses_notification_changes_nothing():
    operator, other = await operator_factory(), await operator_factory()
    [theirs] = await notify(other)
    communicator, _ = await connected(operator)
    await communicator.send_json_to({"action": "mark_read", "id": theirs.pk})
    assert (await communicator.receive_json_from())["error"] == "not_found"
    await database_sync_to_async(theirs.refresh_from_db)()
    assert not theirs.read
    await communicator.disconnect()


async def test_mark_all_read():
    operator, other = await operator_factory(), await operator_factory()
    await notify(operator, 3)
    await notify(other, 1)
    communicator, _ = await connected(operator)
    await communicator.send_json_to({"action": "mark_all_read"})
    assert await communicator.receive_json_from() == {"type": "unread", "unread": 0}
    unread = database_sync_to_async(lambda user: Notification.objects.filter(recipient=user, read=False).count())
    assert (await unread(operator), await unread(other)) == (0, 1)
    await communicator.disconnect()


# --- Replay after a reconnect ---------------------------------------------------------------------


async def test_a_reconnecting_client_gets_every_notification_after_since_in_order():
    tutor = await tutor_factory()
    notes = await notify(tutor.user, 4)
    communicator, hello = await connected(tutor.user, f"since={notes[1].pk}")
    assert hello["unread"] == 4 and hello["last"] == notes[-1].pk
    replayed = [await communicator.receive_json_from() for _ in range(2)]
    assert [frame["notification"] for frame in replayed] == [notes[2].pk, notes[3].pk]
    assert replayed[0]["type"] == "booking.created" and replayed[0]["replay"] is True
    assert replayed[0]["id"] == notes[2].data["id"]  # the envelope id: a client de-duplicates by it
    assert await communicator.receive_nothing(timeout=0.1)
    await communicator.disconnect()


async def test_replay_is_bounded_and_says_when_it_was_cut():
    operator = await operator_factory()
    notes = await notify(operator, REPLAY_LIMIT + 5)
    communicator, hello = await connected(operator, "since=0")
    assert hello["truncated"] is True
    frames = [await communicator.receive_json_from() for _ in range(REPLAY_LIMIT)]
    assert frames[0]["notification"] == notes[0].pk
    assert await communicator.receive_nothing(timeout=0.1)
    await communicator.disconnect()


@pytest.mark.parametrize("since", ["yesterday", "-1", "99999999999999999999999"])  # the last: past bigint
async def test_a_bad_since_is_ignored(since):
    operator = await operator_factory()
    await notify(operator)
    communicator, hello = await connected(operator, f"since={since}")
    assert hello["unread"] == 1
    assert await communicator.receive_nothing(timeout=0.1)
    await communicator.disconnect()


# --- Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('"watch"', "malformed"),
        ("{}", "unknown_action"),
        ('{"action": "explode"}', "unknown_action"),
        ('{"action": "watch"}', "malformed"),
        ('{"action": "watch", "session": "12"}', "malformed"),
        ('{"action": "watch", "session": true}', "malformed"),
        ('{"action": "watch", "session": -1}', "malformed"),
        ('{"action": "mark_read", "id": null}', "malformed"),
        ("[" * 2000 + "]" * 2000, "malformed"),  # under the size limit, past json's recursion limit
        ('{"action": []}', "unknown_action"),  # not hashable: no lookup may fail on it
        ('{"action": "watch", "session": 100000000000000000000000000000}', "malformed"),  # past bigint
        ('{"action": "mark_read", "id": 9223372036854775808}', "malformed"),
    ],
)
async def test_malformed_frames_get_an_error_frame_and_the_socket_stays_open(frame, error):
    communicator, _ = await connected(await operator_factory())
    await communicator.send_to(text_data=frame)
    reply = await communicator.receive_json_from()
    assert (reply["type"], reply["error"]) == ("error", error) and reply["detail"]
    await communicator.send_json_to({"action": "mark_all_read"})  # still alive
    assert (await communicator.receive_json_from())["type"] == "unread"
    await communicator.disconnect()


async def test_binary_frames_are_refused():
    communicator, _ = await connected(await operator_factory())
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await communicator.receive_json_from())["error"] == "malformed"
    await communicator.disconnect()


async def test_a_frame_over_the_limit_is_refused_and_the_socket_closed_with_4413():
    """4413, not 1009: daphne's WebSocket library accepts only 1000 and 3000-4999 from an
    application, and failed the socket with 1011 instead (see test_live_daphne.py)."""
    communicator, _ = await connected(await operator_factory())
    await communicator.send_to(text_data=json.dumps({"action": "watch", "pad": "x" * MAX_FRAME_BYTES}))
    assert (await communicator.receive_json_from())["error"] == "too_big"
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4413}
    # Closed means closed: a staff event that follows is not sent on the closing socket.
    await send_to("staff", event())
    assert await communicator.receive_nothing(timeout=0.2)


# --- Events from the services ---------------------------------------------------------------------


async def test_staff_hear_every_expiry_and_the_tutor_gets_a_notification_only_for_their_session():
    """An expiry sweep stores the tutor's notification for their session in its transaction
    (publish_many) -- and a student's only if they use the app, which these two do not -- and builds
    the other envelopes after commit (publish_later): staff hear every event."""

    def two_pending_bookings():
        tutor = TutorFactory()
        sittings = SessionFactory(capacity=30)  # a mock exam sitting: no tutor
        lesson = SessionFactory(product=LessonFactory(), tutor=tutor)
        bookings = [services.book(session=s, student=StudentFactory()) for s in (sittings, lesson)]
        # The bookings' own events leave on the courier thread after commit; out before the operator
        # connects, or a slow layer (Redis) delivers a booking.created/slot.updated to the new socket.
        delivery.flush()
        return tutor, bookings

    def expire_then_flush(deadline):
        expired = services.expire_due(now=deadline)
        delivery.flush()
        return expired

    tutor, (exam, lesson) = await database_sync_to_async(two_pending_bookings)()
    communicator, _ = await connected(await operator_factory())
    deadline = max(exam.expires_at, lesson.expires_at)
    assert await database_sync_to_async(expire_then_flush)(deadline) == 2

    received = [await communicator.receive_json_from(timeout=5) for _ in range(4)]
    assert sorted((frame["type"], frame.get("data", {}).get("reference")) for frame in received[:2]) == sorted(
        [("booking.expired", exam.reference), ("booking.expired", lesson.reference)]
    ), received
    assert [frame["type"] for frame in received[2:]] == ["slot.updated", "slot.updated"]
    assert {frame["data"]["session"] for frame in received[2:]} == {exam.session_id, lesson.session_id}
    assert all(frame["data"]["seats_taken"] == 0 for frame in received[2:])
    assert "mine" not in received[0] and received[0]["title"] == "Booking expired"
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()

    expired = Notification.objects.filter(type="booking.expired")
    recipients = await database_sync_to_async(lambda: sorted(expired.values_list("recipient_id", flat=True)))()
    assert recipients == [tutor.user_id]


# --- A socket left alone --------------------------------------------------------------------------

IDLE_SECONDS = 15  # three times channels-redis's blocking read (brpop_timeout, 5 s)


@pytest.mark.redis
@pytest.mark.parametrize("layer", ["redis"], indirect=True)
async def test_an_idle_socket_on_redis_still_hears_a_booking_made_afterwards(layer):
    """redis-py's default socket timeout (5 s) once equalled channels-redis's BZPOPMIN wait (5 s):
    every socket without traffic died with "Timeout reading" after ~5 s."""
    operator = await operator_factory()
    session = await database_sync_to_async(SessionFactory)()
    communicator, _ = await connected(operator)
    # Idle is the condition under test: nothing may arrive (no close, no error) for IDLE_SECONDS.
    assert await communicator.receive_nothing(timeout=IDLE_SECONDS, interval=0.5)

    def book():
        booking = services.book(session=session, student=StudentFactory())
        delivery.flush()
        return booking

    booking = await database_sync_to_async(book)()
    created = await communicator.receive_json_from(timeout=5)
    assert (created["type"], created["data"]["reference"]) == ("booking.created", booking.reference)
    await communicator.disconnect()
