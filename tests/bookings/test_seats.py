"""``bookings.services.seats``: the one module that changes ``Session.seats_taken``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bookings import services
from bookings.errors import SessionFull
from bookings.models import Session, SessionStatus
from bookings.services import seats
from tests.factories import SessionFactory, StudentFactory, booking_in

pytestmark = pytest.mark.django_db


def taken(*sessions: Session) -> list[int]:
    return [Session.objects.get(pk=s.pk).seats_taken for s in sessions]


def test_take_seat_takes_one_and_returns_the_new_counts():
    session = SessionFactory(capacity=2)
    slot = seats.take_seat(session.pk, now=timezone.now())
    assert slot == {
        "session": session.pk,
        "capacity": 2,
        "seats_taken": 1,
        "seats_left": 1,
        "status": "open",
        "seats_text": slot["seats_text"],
    }
    assert taken(session) == [1]


@pytest.mark.parametrize("why", ["full", "closed", "started"])
def test_take_seat_takes_nothing_from_a_full_closed_or_started_session(why):
    session = SessionFactory(capacity=1)
    now = timezone.now()
    if why == "full":
        seats.take_seat(session.pk, now=now)
    elif why == "closed":
        Session.objects.filter(pk=session.pk).update(status=SessionStatus.CLOSED)
    else:
        now = session.starts_at
    before = taken(session)
    assert seats.take_seat(session.pk, now=now) is None
    assert taken(session) == before


def test_take_seats_takes_every_seat_asked_for_or_none():
    roomy, tight = SessionFactory(capacity=5), SessionFactory(capacity=2)
    now = timezone.now()
    slots = seats.take_seats({roomy.pk: 3, tight.pk: 2}, now=now)
    assert [slot["seats_taken"] for slot in slots] == [3, 2]

    with pytest.raises(SessionFull, match="has 0 seat\\(s\\) left: it cannot take 1 more"):
        seats.take_seats({roomy.pk: 1, tight.pk: 1}, now=now)
    assert taken(roomy, tight) == [3, 2]  # the roomy one gave its seat back with the batch


def test_release_seats_gives_back_per_session_counts():
    first, second, third = (SessionFactory(capacity=5) for _ in range(3))
    seats.take_seats({first.pk: 3, second.pk: 3, third.pk: 1}, now=timezone.now())
    seats.release_seats({first.pk: 2, second.pk: 2, third.pk: 1})
    assert taken(first, second, third) == [1, 1, 0]


def test_recount_counts_only_the_bookings_that_hold_a_seat():
    session = SessionFactory(capacity=6)
    for status in ("pending", "confirmed", "cancelled", "completed"):
        booking_in(status, session=session)
    Session.objects.filter(pk=session.pk).update(seats_taken=6)
    seats.recount([session.pk])
    assert taken(session) == [2]


def test_a_booking_takes_its_seat_through_the_seats_module():
    session = SessionFactory(capacity=1, starts_at=timezone.now() + timedelta(days=2))
    services.book(session=session, student=StudentFactory())
    assert seats.slots([session.pk])[0]["seats_left"] == 0
