"""End to end over a real socket: daphne in its own process, a `websockets` client carrying a
logged-in session cookie, and a booking committed by this (another) process reaching it through
channels-redis."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from django.conf import settings
from django.test import Client

from bookings import services
from realtime import delivery
from tests.factories import OperatorFactory, SessionFactory, StudentFactory
from tests.servers import daphne

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
