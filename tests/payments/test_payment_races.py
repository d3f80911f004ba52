"""Nothing is paid twice: real threads calling the real callback URLs at the same instant, on PostgreSQL.

The same provider transaction delivered twice at once, a Perform racing the expiry sweep, a
cancellation, a cash payment at the desk: each ends as one payment and one consistent booking
(seat counts equal to the bookings holding seats). Every writer locks the booking's row first
(bookings.services.online), so the second of two racers sees what the first committed.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from bookings import services
from bookings.errors import BookingNotAllowed
from bookings.models import Booking, BookingEvent, BookingStatus, CancelReason, Payment, PaymentStatus
from bookings.payments.core import to_ms
from tests.bookings.test_concurrency import assert_seats_match_bookings, run_in_threads
from tests.factories import SessionFactory, StudentFactory
from tests.payments.protocol import click, click_form, payme

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PRICE = 35_000_000


def create(booking, txn: str) -> dict:
    params = {"id": txn, "time": to_ms(timezone.now()), "amount": PRICE, "account": {"booking": booking.reference}}
    return payme(Client(), "CreateTransaction", params)


def perform(txn: str) -> dict:
    return payme(Client(), "PerformTransaction", {"id": txn})


def test_the_same_payme_perform_delivered_eight_times_at_once_pays_once(booking):
    create(booking, "d" * 24)

    answers = run_in_threads([lambda: perform("d" * 24)] * 8)

    assert all(a == answers[0] for a in answers), answers
    assert answers[0]["result"]["state"] == 2
    assert Payment.objects.filter(status=PaymentStatus.PAID).count() == 1
    assert BookingEvent.objects.filter(booking=booking, action="payment.received").count() == 1
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED
    assert_seats_match_bookings()


def test_the_same_payme_create_delivered_eight_times_at_once_starts_one_transaction(booking):
    answers = run_in_threads([lambda: create(booking, "e" * 24)] * 8)

    assert all(a == answers[0] for a in answers), answers
    assert Payment.objects.count() == 1


def test_two_payme_creates_with_different_ids_at_once_leave_one_waiting(booking):
    answers = run_in_threads([lambda: create(booking, "f" * 24), lambda: create(booking, "g" * 24)])

    codes = sorted(a["error"]["code"] if "error" in a else 0 for a in answers)
    assert codes == [-31008, 0], answers
    assert Payment.objects.filter(provider_state=1).count() == 1


def test_the_same_click_complete_delivered_eight_times_at_once_pays_once(booking):
    prepared = click(Client(), "prepare", click_form(booking.reference, stage="prepare"))
    form = click_form(booking.reference, stage="complete", prepare_id=prepared["merchant_prepare_id"])

    answers = run_in_threads([lambda: click(Client(), "complete", form)] * 8)

    assert Counter(a["error"] for a in answers) == {0: 1, -4: 7}, answers
    assert Payment.objects.filter(status=PaymentStatus.PAID).count() == 1
    assert BookingEvent.objects.filter(booking=booking, action="payment.received").count() == 1


def test_payme_performs_racing_the_sweep_keep_their_seats(db):
    """Bookings past their deadline, each with an open Payme transaction: the sweep leaves them, the
    Performs confirm them; a due booking without one is expired in the same sweep."""
    session = SessionFactory(capacity=30)
    held = [services.book(session=session, student=StudentFactory()) for _ in range(12)]
    unpaid = [services.book(session=session, student=StudentFactory()) for _ in range(6)]
    for i, booking in enumerate(held):
        create(booking, f"{i:024d}")
    Booking.objects.filter(session=session).update(expires_at=timezone.now() - timedelta(minutes=1))

    work = [lambda: services.expire_due(batch_size=4)] + [lambda i=i: perform(f"{i:024d}") for i in range(len(held))]
    results = run_in_threads(work)

    assert results[0] == len(unpaid), results[0]
    assert all(r["result"]["state"] == 2 for r in results[1:]), results[1:]
    assert Booking.objects.filter(pk__in=[b.pk for b in held], status=BookingStatus.CONFIRMED).count() == len(held)
    assert Booking.objects.filter(pk__in=[b.pk for b in unpaid], status=BookingStatus.CANCELLED).count() == len(unpaid)
    assert Payment.objects.filter(status=PaymentStatus.PAID).count() == len(held)
    assert_seats_match_bookings()


def test_click_completes_racing_the_sweep_after_their_hold_end_paid_once_with_a_seat(db):
    """Prepared over an hour ago (the hold is over): the sweep and each Complete race for the booking.
    Whichever wins, the money is taken once and the booking ends confirmed (re-booked if expired first)."""
    session = SessionFactory(capacity=20)
    bookings = [services.book(session=session, student=StudentFactory()) for _ in range(10)]
    forms = []
    for i, booking in enumerate(bookings):
        prepared = click(
            Client(), "prepare", click_form(booking.reference, stage="prepare", click_trans_id=str(500 + i))
        )
        forms.append(
            click_form(
                booking.reference,
                stage="complete",
                prepare_id=prepared["merchant_prepare_id"],
                click_trans_id=str(500 + i),
            )
        )
    past = timezone.now() - timedelta(minutes=1)
    Booking.objects.filter(session=session).update(expires_at=past)
    Payment.objects.update(holds_until=past)

    work = [lambda: services.expire_due(batch_size=3)] + [lambda f=f: click(Client(), "complete", f) for f in forms]
    results = run_in_threads(work)

    assert [r["error"] for r in results[1:]] == [0] * len(forms), results
    assert Payment.objects.filter(status=PaymentStatus.PAID).count() == len(bookings)
    assert Booking.objects.filter(session=session, status=BookingStatus.CONFIRMED).count() == len(bookings)
    assert_seats_match_bookings()


def test_a_payme_perform_racing_a_cancellation_ends_paid_or_cancelled_never_both(db):
    outcomes = Counter()
    for round_ in range(6):
        booking = services.book(session=SessionFactory(capacity=2), student=StudentFactory())
        txn = f"c{round_:023d}"
        create(booking, txn)

        results = run_in_threads(
            [lambda b=booking: services.cancel(b, reason=CancelReason.STUDENT), lambda t=txn: perform(t)]
        )

        payment = Payment.objects.get(provider_txn_id=txn)
        booking.refresh_from_db()
        assert booking.status == BookingStatus.CANCELLED
        if "result" in results[1]:  # Perform first: paid, then the (paid) booking was cancelled
            assert (payment.status, payment.provider_state) == (PaymentStatus.PAID, 2)
            outcomes["performed first"] += 1
        else:  # cancelled first: the transaction is cancelled, no money kept
            assert results[1]["error"]["code"] == -31008
            assert (payment.status, payment.provider_state) == (PaymentStatus.CANCELLED, -1)
            outcomes["cancelled first"] += 1
        assert Payment.objects.filter(booking=booking, status=PaymentStatus.PAID).count() <= 1
        assert_seats_match_bookings()
    assert sum(outcomes.values()) == 6, outcomes


def test_a_payme_perform_racing_cash_at_the_desk_takes_the_money_once(db):
    for round_ in range(6):
        booking = services.book(session=SessionFactory(capacity=2), student=StudentFactory())
        txn = f"k{round_:023d}"
        create(booking, txn)

        results = run_in_threads(
            [lambda b=booking: services.record_payment(b, provider="cash", amount=b.price), lambda t=txn: perform(t)]
        )

        cash, answer = results
        paid = Payment.objects.filter(booking=booking, status=PaymentStatus.PAID)
        assert paid.count() == 1, (cash, answer)
        if isinstance(cash, BookingNotAllowed):  # Payme first
            assert answer["result"]["state"] == 2
            assert paid.get().provider == "payme"
        else:  # the desk first: Payme is refused and its transaction cancelled
            assert isinstance(cash, Payment), cash
            assert answer["error"]["code"] == -31008
            assert Payment.objects.get(provider_txn_id=txn).provider_state == -1
        assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED
        assert_seats_match_bookings()


def test_payme_performs_racing_reschedules_pay_once_on_the_booking_that_holds_the_seat(db):
    """Whichever wins -- the Perform on the old booking (its money then moves) or the reschedule (the
    Perform then finds the attempt on the new booking) -- each transaction is paid once, on the new
    booking, which ends confirmed; the old one keeps no money."""
    session = SessionFactory(capacity=10)
    target = SessionFactory(product=session.product, capacity=10, starts_at=session.starts_at + timedelta(days=1))
    bookings = [services.book(session=session, student=StudentFactory()) for _ in range(8)]
    for i, booking in enumerate(bookings):
        create(booking, f"r{i:023d}")

    work = [lambda b=b: services.reschedule(b, to_session=target) for b in bookings]
    work += [lambda i=i: perform(f"r{i:023d}") for i in range(len(bookings))]
    results = run_in_threads(work)

    moved, answers = results[: len(bookings)], results[len(bookings) :]
    assert all(isinstance(new, Booking) for new in moved), moved
    assert all(answer["result"]["state"] == 2 for answer in answers), answers
    for old, new in zip(bookings, moved, strict=True):
        new.refresh_from_db()
        assert new.status == BookingStatus.CONFIRMED, new
        assert services.paid_total(new) == new.price
        assert services.paid_total(old) == 0
        assert Payment.objects.filter(booking=new, status=PaymentStatus.PAID).count() == 1
    assert Payment.objects.filter(status=PaymentStatus.PAID).count() == len(bookings)
    assert_seats_match_bookings()
