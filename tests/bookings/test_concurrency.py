"""Real threads against the real database: seats are never oversold, expiry releases each seat once.

The booking race runs on SQLite (IMMEDIATE transactions) and PostgreSQL; the expiry races need
PostgreSQL's row locks to be meaningful and are marked so (CI runs them; a laptop skips them).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from bookings import services
from bookings.errors import BookingNotAllowed, SessionFull
from bookings.models import SEAT_HOLDING, Booking, BookingEvent, BookingStatus, Payment, Session
from tests.factories import SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_threads(work: list[Callable[[], object]]) -> list[object]:
    """Start every callable at the same instant in its own thread; return results or exceptions."""
    barrier = threading.Barrier(len(work))
    results: list[object] = [None] * len(work)

    def runner(index: int, fn: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = fn()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()  # each thread has its own connection; don't leak it

    threads = [threading.Thread(target=runner, args=(i, fn)) for i, fn in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    close_old_connections()
    return results


def assert_seats_match_bookings() -> None:
    for session in Session.objects.all():
        holding = Booking.objects.filter(session=session, status__in=SEAT_HOLDING).count()
        assert session.seats_taken == holding, session
        assert 0 <= session.seats_taken <= session.capacity


def test_it_never_oversells_with_64_concurrent_bookers():
    session = SessionFactory(capacity=5)
    students = [StudentFactory() for _ in range(64)]

    results = run_in_threads([lambda s=s: services.book(session=session, student=s) for s in students])

    outcomes = Counter(type(r).__name__ for r in results)
    assert outcomes == {"Booking": 5, "SessionFull": 59}, outcomes
    session.refresh_from_db()
    assert session.seats_taken == 5
    assert Booking.objects.filter(session=session).count() == 5
    assert_seats_match_bookings()


def test_control_a_read_then_write_booker_oversells():
    """The same race without the conditional UPDATE: check the count, then write it back."""
    session = SessionFactory(capacity=5)
    students = [StudentFactory() for _ in range(32)]

    def naive_book(student) -> Booking:
        fresh = Session.objects.get(pk=session.pk)
        if fresh.seats_taken >= fresh.capacity:
            raise SessionFull()
        time.sleep(0.01)  # the gap every real request has between its read and its write
        Session.objects.filter(pk=session.pk).update(seats_taken=fresh.seats_taken + 1)
        return Booking.objects.create(student=student, session=fresh, price=0, status=BookingStatus.PENDING)

    results = run_in_threads([lambda s=s: naive_book(s) for s in students])

    booked = sum(isinstance(r, Booking) for r in results)
    session.refresh_from_db()
    assert booked > session.capacity, "the unguarded version should oversell"
    assert session.seats_taken != booked  # and its counter no longer matches reality


@pytest.mark.postgres
def test_it_releases_each_seat_once_when_two_sweepers_run_at_once():
    sessions = [SessionFactory(capacity=60) for _ in range(4)]
    for session in sessions:
        for _ in range(50):
            services.book(session=session, student=StudentFactory())
    later = timezone.now() + timedelta(days=2)

    results = run_in_threads([lambda: services.expire_due(now=later, batch_size=25)] * 2)

    assert sum(results) == 200, results
    assert all(isinstance(r, int) for r in results)
    assert list(Session.objects.values_list("seats_taken", flat=True)) == [0, 0, 0, 0]
    assert BookingEvent.objects.filter(action="booking.expired").count() == 200


@pytest.mark.postgres
def test_a_payment_racing_the_sweeper_ends_confirmed_with_a_seat_or_expired_without_one():
    session = SessionFactory(capacity=40)
    bookings = [services.book(session=session, student=StudentFactory()) for _ in range(40)]
    later = timezone.now() + timedelta(days=2)

    def pay(booking: Booking):
        return services.record_payment(booking, provider="click", amount=booking.price)

    work = [lambda: services.expire_due(now=later, batch_size=5)] + [lambda b=b: pay(b) for b in bookings]
    results = run_in_threads(work)

    assert not [r for r in results if isinstance(r, Exception)], "no payment may fail or be lost"
    assert Payment.objects.filter(status="paid").count() == 40
    session.refresh_from_db()
    assert_seats_match_bookings()
    for booking in Booking.objects.filter(session=session):
        # A booking that lost the race to the sweeper was re-booked by its late payment (the seat is free).
        assert booking.status == BookingStatus.CONFIRMED, booking
    assert session.seats_taken == 40


@pytest.mark.postgres
def test_a_payment_racing_the_sweeper_for_a_seat_someone_else_took_flags_a_refund():
    session = SessionFactory(capacity=20)
    bookings = [services.book(session=session, student=StudentFactory()) for _ in range(20)]
    later = timezone.now() + timedelta(days=2)
    newcomers = [StudentFactory() for _ in range(20)]

    def take_any_seat(student):
        try:
            return services.book(session=session, student=student)
        except SessionFull as exc:
            return exc

    work = (
        [lambda: services.expire_due(now=later, batch_size=4)]
        + [lambda b=b: services.record_payment(b, provider="payme", amount=b.price) for b in bookings]
        + [lambda s=s: take_any_seat(s) for s in newcomers]
    )
    results = run_in_threads(work)

    assert not [r for r in results[: 1 + len(bookings)] if isinstance(r, Exception)], "no payment may be lost"
    assert Payment.objects.filter(status="paid").count() == 20
    assert_seats_match_bookings()
    for booking in Booking.objects.filter(pk__in=[b.pk for b in bookings]):
        assert (booking.status == BookingStatus.CONFIRMED) or (
            booking.status == BookingStatus.CANCELLED and booking.needs_refund
        ), (booking.status, booking.needs_refund)


# --- Money: never more than is owed ----------------------------------------------------------------


def test_it_records_one_of_eight_cash_payments_posted_at_once():
    """Eight desks take the full price at the same instant: the booking's row lock lets one through."""
    booking = services.book(session=SessionFactory(capacity=5), student=StudentFactory())

    results = run_in_threads([lambda: services.record_payment(booking, provider="cash", amount=booking.price)] * 8)

    outcomes = Counter(type(r).__name__ for r in results)
    assert outcomes == {"Payment": 1, "BookingNotAllowed": 7}, results
    assert all("already paid" in r.message for r in results if isinstance(r, BookingNotAllowed))
    assert list(Payment.objects.values_list("amount", flat=True)) == [booking.price]
    booking.refresh_from_db()
    assert (booking.status, booking.needs_refund) == (BookingStatus.CONFIRMED, False)
    assert BookingEvent.objects.filter(booking=booking, action="payment.received").count() == 1


def test_control_checking_what_is_owed_outside_the_lock_records_both():
    """The same race with the check made before the lock: both desks see 350,000 owed, both record it."""
    booking = services.book(session=SessionFactory(capacity=5), student=StudentFactory())
    both_looked = threading.Barrier(2)

    def naive_pay() -> Payment:
        owed = booking.price - services.paid_total(booking)
        both_looked.wait()  # the gap every real request has between its read and its write
        if owed < booking.price:
            raise BookingNotAllowed("already paid")
        return Payment.objects.create(
            booking=booking, provider="cash", amount=booking.price, currency=booking.currency, status="paid"
        )

    results = run_in_threads([naive_pay, naive_pay])

    assert [type(r).__name__ for r in results] == ["Payment", "Payment"], "the unguarded version pays twice"
    assert services.paid_total(booking) == 2 * booking.price


def test_an_edit_lowering_the_capacity_while_students_book_never_leaves_more_seats_than_capacity():
    """The edit judges the seats under the session's row lock: bookers land before it (and the edit
    sees them) or after it (and find the smaller capacity)."""
    session = SessionFactory(capacity=10, room="Room 1")
    for _ in range(2):
        services.book(session=session, student=StudentFactory())
    students = [StudentFactory() for _ in range(8)]

    def edit():
        return services.update_session(session, capacity=4, room="Hall B")

    results = run_in_threads([edit] + [lambda s=s: services.book(session=session, student=s) for s in students])

    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, SessionFull | BookingNotAllowed)]
    assert not unexpected, unexpected
    session.refresh_from_db()
    assert_seats_match_bookings()
    if isinstance(results[0], Exception):  # more than 4 had booked by the time the edit took the lock
        assert (session.capacity, session.room) == (10, "Room 1")
        assert "seats are booked" in results[0].message
    else:
        assert (session.capacity, session.room) == (4, "Hall B")
        assert session.seats_taken <= 4
