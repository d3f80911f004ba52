"""The notifications socket with an API access token (subprotocols ``bearer, <access>``), through
the whole ASGI stack: a student's app hears its own booking events and the seats of sessions it
may book, and nothing of other students; a bad token closes with 4401."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from backoffice.asgi import application
from bookings import services
from bookings.models import SessionStatus
from realtime import delivery
from realtime.consumers import BEARER, CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from tests.factories import OperatorFactory, SessionFactory, StudentFactory, TutorFactory
from tests.realtime.test_consumer import layer  # noqa: F401  (the layer: autouse fixture)

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")

student_factory = database_sync_to_async(StudentFactory)
session_factory = database_sync_to_async(SessionFactory)


def sent(service):
    """``service`` with its events out before the test goes on: they leave on the courier thread
    after commit, and one still in flight could reach a socket opened afterwards (on Redis)."""

    def call(*args, **kwargs):
        result = service(*args, **kwargs)
        delivery.flush()
        return result

    return database_sync_to_async(call)


book = sent(services.book)
confirm = sent(services.confirm)


def access(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


def socket(*protocols: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/notifications/", headers=[ORIGIN], subprotocols=list(protocols))


async def opened(token: str) -> WebsocketCommunicator:
    communicator = socket(BEARER, token)
    connected, subprotocol = await communicator.connect()
    assert connected and subprotocol == BEARER
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello", hello
    return communicator


async def close_code(communicator: WebsocketCommunicator) -> int:
    connected, _ = await communicator.connect()
    assert connected  # accepted first, so the app sees the code
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    return message["code"]


async def test_a_student_with_a_valid_token_is_greeted():
    student = await student_factory()
    communicator = await opened(await database_sync_to_async(access)(student))
    await communicator.disconnect()


@database_sync_to_async
def expired_token() -> str:
    token = AccessToken.for_user(StudentFactory())
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


@database_sync_to_async
def refresh_token() -> str:
    return str(RefreshToken.for_user(StudentFactory()))


@pytest.mark.parametrize("make", [expired_token, refresh_token], ids=["expired", "refresh"])
async def test_an_expired_or_refresh_token_closes_with_4401(make):
    assert await close_code(socket(BEARER, await make())) == CLOSE_UNAUTHENTICATED


@pytest.mark.parametrize("protocols", [(BEARER,), (BEARER, "not-a-token"), (BEARER, "a.b.c", "extra")])
async def test_a_missing_or_malformed_token_closes_with_4401(protocols):
    assert await close_code(socket(*protocols)) == CLOSE_UNAUTHENTICATED


async def test_a_deactivated_persons_token_closes_with_4401():
    student = await database_sync_to_async(StudentFactory)(is_active=False)
    token = await database_sync_to_async(access)(student)
    assert await close_code(socket(BEARER, token)) == CLOSE_UNAUTHENTICATED


async def test_staff_may_use_a_token_too():
    operator = await database_sync_to_async(OperatorFactory)()
    communicator = await opened(await database_sync_to_async(access)(operator))
    await communicator.disconnect()


async def test_a_student_without_a_token_is_still_refused():
    """Students have no back-office login: the cookie path stays staff only (4401 without one)."""
    assert await close_code(socket()) == CLOSE_UNAUTHENTICATED
    assert CLOSE_FORBIDDEN == 4403


async def test_a_student_hears_their_booking_confirmed_and_not_other_students():
    student, other = await student_factory(), await student_factory()
    session = await session_factory(capacity=5)
    booking = await book(session=session, student=student)
    theirs = await book(session=session, student=other)
    communicator = await opened(await database_sync_to_async(access)(student))

    await confirm(theirs)
    await confirm(booking)

    frame = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "booking.confirmed"
    assert frame["data"]["reference"] == booking.reference
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_student_watches_a_bookable_session_and_hears_only_its_seats():
    student, other = await student_factory(), await student_factory()
    session = await session_factory(capacity=5)
    communicator = await opened(await database_sync_to_async(access)(student))

    await communicator.send_json_to({"action": "watch", "session": session.pk})
    assert await communicator.receive_json_from() == {"type": "watching", "session": session.pk}
    await book(session=session, student=other)

    frame = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "slot.updated"  # not the other student's booking.created
    assert (frame["data"]["session"], frame["data"]["seats_left"]) == (session.pk, 4)
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_student_may_watch_a_session_they_booked_but_not_a_closed_one_or_a_tutors():
    student = await student_factory()
    booked = await session_factory(capacity=5)
    await book(session=booked, student=student)
    closed = await session_factory(status=SessionStatus.CLOSED)
    tutor = await database_sync_to_async(TutorFactory)(min_notice_hours=1000)
    too_soon = await session_factory(tutor=tutor)  # inside the tutor's notice: not bookable
    communicator = await opened(await database_sync_to_async(access)(student))

    await communicator.send_json_to({"action": "watch", "session": booked.pk})
    assert (await communicator.receive_json_from())["type"] == "watching"
    for session in (closed, too_soon):
        await communicator.send_json_to({"action": "watch", "session": session.pk})
        refusal = await communicator.receive_json_from()
        assert (refusal["type"], refusal["error"]) == ("error", "forbidden")
    await communicator.disconnect()


# --- Apps send no Origin (realtime.origin) -------------------------------------------------------------


async def test_an_app_without_an_origin_connects_with_its_token():
    student = await student_factory()
    communicator = WebsocketCommunicator(
        application, "/ws/notifications/", subprotocols=[BEARER, await database_sync_to_async(access)(student)]
    )
    connected, subprotocol = await communicator.connect()
    assert connected and subprotocol == BEARER
    assert (await communicator.receive_json_from())["type"] == "hello"
    await communicator.disconnect()


@database_sync_to_async
def staff_cookie() -> bytes:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(OperatorFactory())
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def test_without_an_origin_a_cookie_alone_is_refused_at_the_handshake():
    cookie = await staff_cookie()
    communicator = WebsocketCommunicator(application, "/ws/notifications/", headers=[(b"cookie", cookie)])
    connected, _ = await communicator.connect()
    assert not connected


async def test_without_an_origin_the_cookie_is_dropped_and_a_bad_token_is_refused():
    cookie = await staff_cookie()
    communicator = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[(b"cookie", cookie)], subprotocols=[BEARER, "not-a-token"]
    )
    assert await close_code(communicator) == CLOSE_UNAUTHENTICATED


async def test_a_foreign_origin_is_refused_even_with_a_token():
    student = await student_factory()
    communicator = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[(b"origin", b"https://evil.example")],
        subprotocols=[BEARER, await database_sync_to_async(access)(student)],
    )
    connected, _ = await communicator.connect()
    assert not connected
