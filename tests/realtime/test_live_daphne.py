"""End to end over a real socket: daphne in its own process, a `websockets` client carrying a
logged-in session cookie, and a booking committed by this (another) process reaching it through
channels-redis."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import Client

from bookings import services
from realtime import delivery
from realtime.events import LAYER_MESSAGE_TYPE
from tests.factories import OperatorFactory, SessionFactory, StudentFactory, TutorFactory
from tests.servers import daphne, daphne_server

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def frames_until(ws, wanted: str, timeout: float = 10) -> list[dict]:
    frames = []
    async with asyncio.timeout(timeout):
        while not frames or frames[-1]["type"] != wanted:
            frames.append(json.loads(await ws.recv()))
    return frames


def test_a_booking_made_in_another_process_reaches_a_logged_in_browser_socket():
    operator = OperatorFactory()
    session = SessionFactory(capacity=5)
    student = StudentFactory()

    headers = {"Cookie": session_cookie(operator)}

    async def scenario(base: str) -> tuple[dict, list[dict], object]:
        ws_url = base.replace("http://", "ws://") + "/ws/notifications/"
        async with websockets.connect(ws_url, origin=base, additional_headers=headers) as ws:
            hello = json.loads(await ws.recv())
            await ws.send(json.dumps({"action": "watch", "session": session.pk}))
            await frames_until(ws, "watching")
            booking = await asyncio.to_thread(services.book, session=session, student=student, actor=operator)
            await asyncio.to_thread(delivery.flush)
            frames = await frames_until(ws, "booking.created")
            frames += await frames_until(ws, "slot.updated")
        return hello, frames, booking

    with daphne() as base:
        hello, frames, booking = asyncio.run(scenario(base))

    assert hello["type"] == "hello"
    created = next(frame for frame in frames if frame["type"] == "booking.created")
    assert created["data"]["reference"] == booking.reference
    assert created["data"]["session"] == session.pk
    slot = frames[-1]
    assert (slot["data"]["session"], slot["data"]["seats_left"]) == (session.pk, 4)


def test_an_anonymous_socket_is_closed_with_4401():
    async def scenario(base: str) -> int:
        ws_url = base.replace("http://", "ws://") + "/ws/notifications/"
        async with websockets.connect(ws_url, origin=base) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        return closed.value.rcvd.code

    with daphne() as base:
        assert asyncio.run(scenario(base)) == 4401


IDLE_SECONDS = 15  # three times channels-redis's blocking read (brpop_timeout, 5 s)


def test_sockets_left_idle_still_hear_a_booking_made_afterwards():
    """A staff socket and a tutor's socket say nothing for 15 s, then both hear one booking.

    redis-py's default socket timeout (5 s) once equalled channels-redis's BZPOPMIN wait (5 s):
    daphne closed every quiet socket with 1011 after ~5 s and logged a traceback each time.
    """
    operator = OperatorFactory()
    tutor = TutorFactory()
    session = SessionFactory(tutor=tutor, capacity=5)
    student = StudentFactory()

    cookies = [session_cookie(operator), session_cookie(tutor.user)]

    async def listen(ws_url: str, base: str, cookie: str, idled: asyncio.Event) -> list[dict]:
        try:
            headers = {"Cookie": cookie}
            async with websockets.connect(ws_url, origin=base, additional_headers=headers) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
                # Idle is the condition under test: nothing at all (no close, no frame) for IDLE_SECONDS.
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(ws.recv(), timeout=IDLE_SECONDS)
                idled.set()
                return await frames_until(ws, "booking.created")
        finally:
            idled.set()  # a listener that failed early does not keep the scenario waiting

    async def scenario(base: str):
        ws_url = base.replace("http://", "ws://") + "/ws/notifications/"
        # Both sockets idle at the same time: one wait of IDLE_SECONDS for the two of them.
        idled = [asyncio.Event(), asyncio.Event()]
        listeners = [
            asyncio.create_task(listen(ws_url, base, cookie, done)) for cookie, done in zip(cookies, idled, strict=True)
        ]
        await asyncio.gather(*(event.wait() for event in idled))
        booking = await asyncio.to_thread(services.book, session=session, student=student, actor=operator)
        await asyncio.to_thread(delivery.flush)
        return booking, await asyncio.gather(*listeners)

    with daphne_server() as server:
        booking, (staff_frames, tutor_frames) = asyncio.run(scenario(server.base))
        log = server.stderr()

    for frames in (staff_frames, tutor_frames):
        assert frames[-1]["data"]["reference"] == booking.reference
    assert "Timeout reading" not in log and "Traceback" not in log


# --- Bad frames and hasty clients, against the real server ----------------------------------------

BAD_FRAMES = [
    ("not json", "malformed"),
    ("[" * 2000 + "]" * 2000, "malformed"),  # 4,000 bytes, under the size limit, past json's recursion
    ('{"action": []}', "unknown_action"),  # an unhashable action
    ('{"action": {"watch": 1}}', "unknown_action"),
    ('{"action": "watch", "session": 100000000000000000000000000000}', "malformed"),  # past bigint
    ('{"action": "mark_read", "id": 1e400}', "malformed"),
    (b"\x00\x01", "malformed"),
]


def test_every_bad_frame_gets_an_error_frame_and_one_too_big_a_clean_close_with_4413():
    headers = {"Cookie": session_cookie(OperatorFactory())}

    async def scenario(base: str) -> tuple[list[tuple[str, str]], dict, int]:
        ws_url = base.replace("http://", "ws://") + "/ws/notifications/"
        async with websockets.connect(ws_url, origin=base, additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            answers = []
            for frame, _ in BAD_FRAMES:
                await ws.send(frame)
                answer = json.loads(await ws.recv())
                answers.append((answer["type"], answer["error"]))
            await ws.send(json.dumps({"action": "watch", "pad": "x" * 5000}))
            too_big = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        return answers, too_big, closed.value.rcvd.code

    with daphne_server() as server:
        answers, too_big, code = asyncio.run(scenario(server.base))
        log = server.stderr()

    assert answers == [("error", error) for _, error in BAD_FRAMES]
    assert (too_big["error"], code) == ("too_big", 4413)
    assert "Traceback" not in log and "Exception inside application" not in log


def test_a_page_left_while_frames_are_still_on_their_way_logs_nothing():
    """A page left while daphne still holds frames it could not write yet (a slow reader, or a
    burst): the browser's close frame is read first, and for daphne the socket is closed but not
    yet gone. Every send then raised, and daphne logged "Attempt to send on a closed protocol" with
    a traceback for the consumer it killed."""
    headers = {"Cookie": session_cookie(OperatorFactory())}
    pad = "x" * 4000

    async def burst(count: int) -> None:
        layer = get_channel_layer()
        for n in range(count):
            event = {"type": "booking.created", "id": f"burst-{n}", "data": {"pad": pad}}
            await layer.group_send("staff", {"type": LAYER_MESSAGE_TYPE, "event": event, "for": []})

    async def scenario(base: str) -> None:
        ws_url = base.replace("http://", "ws://") + "/ws/notifications/"
        # max_queue=1: the client stops reading its socket after one unread frame, as a busy tab does.
        async with websockets.connect(
            ws_url, origin=base, additional_headers=headers, max_queue=1, close_timeout=3
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            await burst(1500)  # ~6 MB, more than the sockets' buffers: most of it waits in daphne
            leaving = asyncio.create_task(ws.close())  # the page is left
            await burst(300)  # events keep coming for its socket meanwhile
            await leaving

    with daphne_server() as server:
        asyncio.run(scenario(server.base))
        log = server.stderr()

    assert "Attempt to send on a closed protocol" not in log
    assert "Traceback" not in log and "Exception inside application" not in log
