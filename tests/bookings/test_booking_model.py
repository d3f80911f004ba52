from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingStatus, CancelReason, Session
from bookings.models.bookings import REFERENCE_ALPHABET, REFERENCE_LENGTH, new_reference
from tests.factories import SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db

# A fixed instant, so that every time in these tests is exact.
BOOKED_AT = datetime(2030, 3, 4, 9, 30, tzinfo=timezone.get_default_timezone())


def frozen(at: datetime) -> time_machine.travel:
    return time_machine.travel(at, tick=False)


@pytest.fixture
def pending(student) -> Booking:
    """A pending booking made at BOOKED_AT, due 24 hours later; the session starts in 3 days."""
    with frozen(BOOKED_AT):
        session = SessionFactory(starts_at=BOOKED_AT + timedelta(days=3), capacity=5)
        booking = services.book(session=session, student=student)
    assert booking.status == BookingStatus.PENDING
    assert booking.expires_at == BOOKED_AT + timedelta(hours=24)
    return booking


# time_left


@pytest.mark.parametrize(
    ("elapsed", "left", "display"),
    [
        (timedelta(0), timedelta(hours=24), "24 h 0 min"),
        (timedelta(seconds=1), timedelta(hours=23, minutes=59), "23 h 59 min"),
        (timedelta(minutes=1), timedelta(hours=23, minutes=59), "23 h 59 min"),
        (timedelta(minutes=1, seconds=59), timedelta(hours=23, minutes=58), "23 h 58 min"),
        (timedelta(hours=11, minutes=30), timedelta(hours=12, minutes=30), "12 h 30 min"),
        (timedelta(hours=23), timedelta(hours=1), "1 h 0 min"),
        (timedelta(hours=23, minutes=1), timedelta(minutes=59), "59 min"),
        (timedelta(hours=23, minutes=59), timedelta(minutes=1), "1 min"),
    ],
)
def test_it_counts_down_whole_minutes_to_the_payment_deadline(
    pending: Booking, elapsed: timedelta, left: timedelta, display: str
) -> None:
    with frozen(BOOKED_AT + elapsed):
        assert pending.time_left == left
        assert pending.time_left_display == display
        assert pending.is_expired is False


def test_it_has_no_time_left_exactly_at_the_deadline(pending: Booking) -> None:
    with frozen(pending.expires_at):
        assert pending.time_left == timedelta(0)
        assert pending.time_left_display == ""


@pytest.mark.parametrize("late", [timedelta(seconds=1), timedelta(hours=5), timedelta(days=30)])
def test_it_has_no_time_left_after_the_deadline(pending: Booking, late: timedelta) -> None:
    with frozen(pending.expires_at + late):
        assert pending.time_left == timedelta(0)
        assert pending.time_left_display == ""


def test_it_never_gives_more_time_than_until_the_session_starts(student) -> None:
    with frozen(BOOKED_AT):
        session = SessionFactory(starts_at=BOOKED_AT + timedelta(hours=5))
        booking = services.book(session=session, student=student)

        assert booking.expires_at == session.starts_at
        assert booking.time_left_display == "5 h 0 min"


def test_it_has_no_time_left_once_confirmed(pending: Booking) -> None:
    with frozen(BOOKED_AT + timedelta(hours=1)):
        services.confirm(pending)

        assert pending.status == BookingStatus.CONFIRMED
        assert pending.time_left == timedelta(0)
        assert pending.time_left_display == ""


def test_it_has_no_time_left_once_cancelled(pending: Booking) -> None:
    with frozen(BOOKED_AT + timedelta(hours=1)):
        services.cancel(pending, reason=CancelReason.STAFF)

        assert pending.time_left == timedelta(0)


def test_it_has_no_time_left_for_a_non_pending_status_even_with_a_deadline() -> None:
    # Defensive: whatever expires_at says, only a pending booking counts down.
    deadline = timezone.now() + timedelta(hours=3)
    for status in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW):
        booking = Booking(status=status, expires_at=deadline)
        assert booking.time_left == timedelta(0)
        assert booking.time_left_display == ""


# is_expired


def test_it_is_not_expired_before_the_deadline(pending: Booking) -> None:
    with frozen(pending.expires_at - timedelta(seconds=1)):
        assert pending.is_expired is False


def test_it_is_expired_when_pending_at_or_past_the_deadline(pending: Booking) -> None:
    with frozen(pending.expires_at):
        assert pending.is_expired is True
    with frozen(pending.expires_at + timedelta(hours=1)):
        assert pending.is_expired is True


def test_it_is_expired_when_cancelled_for_non_payment(pending: Booking) -> None:
    with frozen(pending.expires_at + timedelta(minutes=1)):
        assert services.expire_due() == 1

    pending.refresh_from_db()
    assert pending.status == BookingStatus.CANCELLED
    assert pending.cancel_reason == CancelReason.EXPIRED
    assert pending.is_expired is True


@pytest.mark.parametrize("reason", [r for r in CancelReason.values if r != CancelReason.EXPIRED])
def test_it_is_not_expired_when_cancelled_for_another_reason(pending: Booking, reason: str) -> None:
    with frozen(BOOKED_AT + timedelta(hours=1)):
        booking = services.cancel(pending, reason=reason)

    # Even long after the old payment deadline.
    with frozen(BOOKED_AT + timedelta(days=2)):
        assert booking.is_expired is False


def test_it_is_not_expired_once_confirmed_even_after_the_old_deadline(pending: Booking) -> None:
    with frozen(BOOKED_AT + timedelta(hours=1)):
        services.confirm(pending)

    with frozen(BOOKED_AT + timedelta(hours=30)):
        assert pending.is_expired is False


def test_it_is_not_expired_when_completed_or_no_show(student) -> None:
    with frozen(BOOKED_AT):
        session = SessionFactory(starts_at=BOOKED_AT + timedelta(days=1), capacity=5)
        done = services.confirm(services.book(session=session, student=student))
        absent = services.confirm(services.book(session=session, student=StudentFactory()))
    with frozen(session.starts_at + timedelta(hours=1)):
        services.complete(done)
        services.mark_no_show(absent)

        assert (done.status, done.is_expired) == (BookingStatus.COMPLETED, False)
        assert (absent.status, absent.is_expired) == (BookingStatus.NO_SHOW, False)


# Session.seats_left


def test_it_counts_seats_left_as_bookings_take_them(session) -> None:
    assert (session.capacity, session.seats_left) == (5, 5)

    services.book(session=session, student=StudentFactory())
    services.book(session=session, student=StudentFactory())

    session.refresh_from_db()
    assert session.seats_left == 3
    assert session.is_full is False


def test_it_has_no_seats_left_when_full() -> None:
    session = SessionFactory(capacity=2)
    for _ in range(2):
        services.book(session=session, student=StudentFactory())

    session.refresh_from_db()
    assert session.seats_left == 0
    assert session.is_full is True


def test_it_gives_a_seat_back_on_cancellation(session, student) -> None:
    booking = services.book(session=session, student=student)
    services.cancel(booking, reason=CancelReason.STAFF)

    session.refresh_from_db()
    assert session.seats_left == 5


def test_it_never_reports_negative_seats_left() -> None:
    # Capacity lowered below the bookings already held.
    assert Session(capacity=2, seats_taken=3).seats_left == 0


# reference


def test_it_gives_each_booking_a_seven_character_reference_from_the_unambiguous_alphabet(session) -> None:
    booking = services.book(session=session, student=StudentFactory())

    assert len(booking.reference) == REFERENCE_LENGTH == 7
    assert set(booking.reference) <= set(REFERENCE_ALPHABET)
    assert Booking.objects.get(reference=booking.reference) == booking


def test_it_leaves_look_alike_characters_out_of_references() -> None:
    assert not set("01OIL") & set(REFERENCE_ALPHABET)
    references = {new_reference() for _ in range(2000)}
    assert all(len(r) == 7 and set(r) <= set(REFERENCE_ALPHABET) for r in references)
    assert len(references) == 2000  # 31^7 ≈ 27.5 billion: no collision in a couple of thousand


def test_it_gives_every_booking_a_different_reference() -> None:
    session = SessionFactory(capacity=30)
    bookings = [services.book(session=session, student=StudentFactory()) for _ in range(30)]

    references = [b.reference for b in bookings]
    assert len(set(references)) == 30
    assert Booking.objects.filter(reference__in=references).count() == 30


def test_it_prints_a_booking_as_its_reference(session, student) -> None:
    booking = services.book(session=session, student=student)

    assert str(booking) == booking.reference
