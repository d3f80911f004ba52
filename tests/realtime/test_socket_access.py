"""A socket does not outlive its person's right to listen: logout, deactivation, deletion, a role
change and a new password close it, through the whole ASGI stack (session cookie, origin check),
on the in-memory layer and on channels-redis (the ``layer`` fixture of test_consumer.py)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from backoffice.asgi import application
from backoffice.models import Role, User
from realtime import delivery
from realtime.consumers import CLOSE_FORBIDDEN, CLOSE_RECONNECT, CLOSE_UNAUTHENTICATED
from tests.factories import OperatorFactory
from tests.realtime.test_consumer import event, layer, send_to  # noqa: F401  (layer: autouse fixture)

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "Quiet-harbour-lanterns-1987"


@database_sync_to_async
def logged_in(user: User) -> Client:
    """A browser with its own login session."""
    browser = Client()
    browser.force_login(user)
    return browser


def cookie(browser: Client) -> str:
    return f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"


async def open_socket(browser: Client) -> WebsocketCommunicator:
    """A socket opened by ``browser``'s page; returns it once the hello has arrived."""
    communicator = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[(b"cookie", cookie(browser).encode()), (b"origin", b"http://localhost")],
    )
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator


async def close_code(communicator: WebsocketCommunicator) -> int:
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    return message["code"]


async def refusal_code(browser: Client) -> int:
    """What a new socket of ``browser`` is told: the reconnect after a 4000."""
    communicator = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[(b"cookie", cookie(browser).encode()), (b"origin", b"http://localhost")],
    )
    assert (await communicator.connect())[0]
    return await close_code(communicator)


def then_flush(change):
    """Run ``change`` in a worker thread, then wait for what it sent after commit (channels-redis)."""

    def run(*args, **kwargs):
        result = change(*args, **kwargs)
        delivery.flush()
        return result

    return database_sync_to_async(run)


async def still_hears_staff_events(communicator: WebsocketCommunicator) -> bool:
    sent = event(booking=1)
    await send_to("staff", sent)
    return (await communicator.receive_json_from(timeout=5))["id"] == sent["id"]


@then_flush
def save(user: User, **changes) -> None:
    user.refresh_from_db()
    for field, value in changes.items():
        setattr(user, field, value)
    user.save()


async def test_a_logout_closes_that_sessions_sockets_with_4401_and_no_others():
    operator = await database_sync_to_async(OperatorFactory)()
    laptop, phone = await logged_in(operator), await logged_in(operator)
    tabs = [await open_socket(laptop), await open_socket(laptop)]
    on_phone = await open_socket(phone)

    await then_flush(laptop.post)("/admin/logout/")

    assert [await close_code(tab) for tab in tabs] == [CLOSE_UNAUTHENTICATED] * 2
    assert await still_hears_staff_events(on_phone)
    await on_phone.disconnect()


async def test_a_deactivated_persons_sockets_close_with_4403():
    operator = await database_sync_to_async(OperatorFactory)()
    socket = await open_socket(await logged_in(operator))
    await save(operator, is_active=False)
    assert await close_code(socket) == CLOSE_FORBIDDEN


async def test_a_deleted_persons_sockets_close_with_4403():
    operator = await database_sync_to_async(OperatorFactory)()
    socket = await open_socket(await logged_in(operator))
    await then_flush(operator.delete)()
    assert await close_code(socket) == CLOSE_FORBIDDEN


async def test_a_role_without_the_back_office_closes_the_sockets_with_4403():
    operator = await database_sync_to_async(OperatorFactory)()
    socket = await open_socket(await logged_in(operator))
    await save(operator, role=Role.STUDENT)  # is_staff follows the role
    assert await close_code(socket) == CLOSE_FORBIDDEN


async def test_an_operator_made_a_tutor_reconnects_into_their_own_group_and_no_longer_hears_staff():
    operator = await database_sync_to_async(OperatorFactory)()
    browser = await logged_in(operator)
    socket = await open_socket(browser)
    await save(operator, role=Role.TUTOR)
    assert await close_code(socket) == CLOSE_RECONNECT

    again = await open_socket(browser)  # what the client does on 4000
    await send_to("staff", event(booking=1))
    assert await again.receive_nothing(timeout=0.3)
    own = event(booking=2)
    await send_to(f"tutor.{operator.pk}", own)
    assert (await again.receive_json_from(timeout=5))["id"] == own["id"]
    await again.disconnect()


async def test_a_new_password_keeps_the_session_that_set_it_and_ends_the_others():
    operator = await database_sync_to_async(OperatorFactory)()  # password "pass-12345"
    laptop, phone = await logged_in(operator), await logged_in(operator)
    on_laptop, on_phone = await open_socket(laptop), await open_socket(phone)
    phone_cookie = cookie(phone)

    # The laptop changes the password through the admin's form: Django keeps the laptop's session
    # valid (under a new key, in a new cookie) and every other session of the person ends.
    form = {"old_password": "pass-12345", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = await then_flush(laptop.post)("/admin/password_change/", form)
    assert response.status_code == 302

    assert await close_code(on_laptop) == CLOSE_RECONNECT
    assert await close_code(on_phone) == CLOSE_RECONNECT
    again = await open_socket(laptop)  # the laptop's reconnect carries its new cookie: welcome
    await again.disconnect()
    assert cookie(phone) == phone_cookie
    assert await refusal_code(phone) == CLOSE_UNAUTHENTICATED


async def test_saving_a_person_without_touching_their_access_leaves_their_socket_alone():
    operator = await database_sync_to_async(OperatorFactory)()
    socket = await open_socket(await logged_in(operator))
    await save(operator, first_name="Renamed")
    # The recheck ran (the change reached the socket before this event) and found nothing to do.
    assert await still_hears_staff_events(socket)
    await socket.disconnect()
