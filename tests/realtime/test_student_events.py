"""A student's app hears its own ``booking.reminder`` and ``result.published`` on the token socket,
marked as theirs (a notification was stored for them), and nothing of another student's.

The bookings are made on an earlier clock and the events sent on the real one: the in-memory layer
drops group members it thinks a day old when the clock jumps ahead under them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.utils import timezone

from bookings import services
from bookings.services.reminders import send_due_reminders
from tests.factories import SessionFactory, StudentFactory, TutorFactory, confirmed_booking
from tests.realtime import test_token_socket as sockets
from tests.realtime.test_consumer import layer  # noqa: F401  (the layer: autouse fixture)

pytestmark = pytest.mark.django_db(transaction=True)
SCORES = {"listening": 8, "reading": 8, "writing": 7, "speaking": 7}


@database_sync_to_async
def two_students_booked(*, starts_in: timedelta) -> tuple:
    """Two confirmed bookings, made two days ago, of a tutor's session starting ``starts_in`` from now."""
    starts_at = timezone.now() + starts_in
    with time_machine.travel(timezone.now() - timedelta(days=2), tick=False):
        session = SessionFactory(tutor=TutorFactory(), capacity=3, starts_at=starts_at)
        mine = confirmed_booking(session=session, student=StudentFactory())
        theirs = confirmed_booking(session=session, student=StudentFactory())
    return mine, theirs, sockets.access(mine.student)


async def heard(communicator) -> list[dict]:
    frames = []
    while not await communicator.receive_nothing(timeout=0.5):
        frames.append(await communicator.receive_json_from(timeout=5))
    await communicator.disconnect()
    return frames


async def test_a_student_hears_their_reminders_and_not_another_students():
    # Due now: the 24 h and 1 h reminders (the 15 min one is 35 minutes away).
    mine, _, token = await two_students_booked(starts_in=timedelta(minutes=50))
    communicator = await sockets.opened(token)

    await database_sync_to_async(send_due_reminders)()

    frames = await heard(communicator)
    assert sorted((f["type"], f["data"]["reference"], f["data"]["kind"]) for f in frames) == [
        ("booking.reminder", mine.reference, "1h"),
        ("booking.reminder", mine.reference, "24h"),
    ]
    assert all(f.get("mine") is True for f in frames)


async def test_a_student_hears_their_result_published_and_not_another_students():
    mine, theirs, token = await two_students_booked(starts_in=-timedelta(hours=1))
    communicator = await sockets.opened(token)

    @database_sync_to_async
    def publish_both() -> None:
        for booking in (theirs, mine):
            services.record_result(booking, scores=SCORES)

    await publish_both()

    frames = await heard(communicator)
    assert [(f["type"], f["data"]["reference"]) for f in frames] == [
        ("booking.completed", mine.reference),  # the result completes the booking
        ("result.published", mine.reference),
    ]
    assert frames[1]["data"]["overall"] == "7.5"
    assert all(f.get("mine") is True for f in frames)
