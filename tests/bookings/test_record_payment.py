from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from bookings import services
from bookings.errors import BookingNotAllowed
from bookings.models import Booking, BookingStatus, CancelReason, Payment, PaymentStatus, Session
from tests.factories import SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db


def seats(session) -> int:
    return Session.objects.get(pk=session.pk).seats_taken


def test_it_confirms_a_pending_booking_paid_in_full(session, student, operator):
    booking = services.book(session=session, student=student)
    payment = services.record_payment(booking, provider="cash", amount=booking.price, actor=operator)

    assert (payment.status, payment.amount, payment.created_by) == (PaymentStatus.PAID, booking.price, operator)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.expires_at is None
    assert seats(session) == 1
    actions = list(booking.events.values_list("action", flat=True))
    assert actions == ["booking.created", "payment.received", "booking.confirmed"]
    assert booking.events.get(action="booking.confirmed").data["via"] == "payment"


def test_it_waits_for_the_full_price_before_confirming(session, student):
    booking = services.book(session=session, student=student)
    services.record_payment(booking, provider="cash", amount=booking.price / 2)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.PENDING
    services.record_payment(booking, provider="click", amount=booking.price / 2)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED
    assert services.paid_total(booking) == booking.price


def test_it_records_a_provider_transaction_once(session, student):
    booking = services.book(session=session, student=student)
    first = services.record_payment(booking, provider="payme", amount=booking.price, provider_txn_id="tx-1")
    again = services.record_payment(booking, provider="payme", amount=booking.price, provider_txn_id="tx-1")
    assert first.pk == again.pk
    assert Payment.objects.count() == 1


def test_it_refuses_another_bookings_transaction(session, student):
    booking = services.book(session=session, student=student)
    other = services.book(session=session, student=StudentFactory())
    services.record_payment(booking, provider="payme", amount=booking.price, provider_txn_id="tx-1")
    with pytest.raises(BookingNotAllowed, match="another booking"):
        services.record_payment(other, provider="payme", amount=other.price, provider_txn_id="tx-1")


@pytest.mark.parametrize(("provider", "amount"), [("cash", 0), ("cash", -5), ("cash", "abc"), ("paypal", 10)])
def test_it_refuses_bad_input_and_writes_nothing(session, student, provider, amount):
    booking = services.book(session=session, student=student)
    with pytest.raises(BookingNotAllowed):
        services.record_payment(booking, provider=provider, amount=amount)
    assert Payment.objects.count() == 0
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.PENDING


def test_it_gives_an_expired_booking_its_seat_back_when_one_is_free(session, student):
    booking = services.book(session=session, student=student)
    with time_machine.travel(booking.expires_at + timedelta(minutes=1)):
        assert services.expire_due() == 1
        assert seats(session) == 0
        services.record_payment(booking, provider="click", amount=booking.price)

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.cancel_reason == ""
    assert not booking.needs_refund
    assert seats(session) == 1
    assert booking.events.get(action="booking.confirmed").data["reinstated"] is True


def test_it_keeps_the_money_and_flags_a_refund_when_the_seat_is_gone(student):
    session = SessionFactory(capacity=1)
    booking = services.book(session=session, student=student)
    with time_machine.travel(booking.expires_at + timedelta(minutes=1)):
        services.expire_due()
        services.book(session=session, student=StudentFactory())  # someone else took the seat
        payment = services.record_payment(booking, provider="payme", amount=booking.price)

    booking.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.EXPIRED)
    assert booking.needs_refund
    assert seats(session) == 1
    assert booking.events.filter(action="booking.refund_due").exists()


def test_it_flags_a_refund_for_a_payment_on_a_staff_cancelled_booking(session, student):
    booking = services.book(session=session, student=student)
    services.cancel(booking, reason=CancelReason.STAFF)
    services.record_payment(booking, provider="cash", amount=Decimal("1000"))
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.needs_refund


def test_it_only_records_money_for_a_confirmed_booking(session, student):
    booking = services.book(session=session, student=student)
    services.confirm(booking)
    services.record_payment(booking, provider="cash", amount=booking.price)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.events.filter(action="booking.confirmed").count() == 1
    assert seats(session) == 1


def test_it_returns_the_payment_when_the_same_transaction_arrives_twice_at_once(session, student):
    """Both deliveries pass the "already recorded?" check; the second one's INSERT hits the unique index.

    (The check is made under the booking's lock, so for one booking this needs a check that
    answers stale; a part payment keeps the "more than is owed" refusal out of the way.)
    """
    from unittest import mock

    from bookings.services import payments

    booking = services.book(session=session, student=student)
    half = booking.price / 2
    first = services.record_payment(booking, provider="click", amount=half, provider_txn_id="dup-1")
    real = payments._already_recorded
    stale_answers = [None]  # the racing delivery looked before the other one committed

    def racing(*args):
        return stale_answers.pop() if stale_answers else real(*args)

    with mock.patch.object(payments, "_already_recorded", side_effect=racing):
        again = services.record_payment(booking, provider="click", amount=half, provider_txn_id="dup-1")

    assert again.pk == first.pk
    assert Payment.objects.filter(provider_txn_id="dup-1").count() == 1
    assert services.paid_total(booking) == half
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.PENDING


def test_it_returns_a_replayed_transaction_of_a_paid_booking_rather_than_refusing_it(session, student):
    """A provider repeating its callback for a booking it already paid gets its payment back, not an error."""
    booking = services.book(session=session, student=student)
    first = services.record_payment(booking, provider="payme", amount=booking.price, provider_txn_id="tx-9")

    assert services.record_payment(booking, provider="payme", amount=booking.price, provider_txn_id="tx-9") == first
    assert Payment.objects.count() == 1


# --- Never more than is owed -----------------------------------------------------------------------


def test_it_refuses_a_second_full_payment_and_records_one(session, student):
    booking = services.book(session=session, student=student)
    services.record_payment(booking, provider="cash", amount=booking.price)

    with pytest.raises(BookingNotAllowed, match=rf"Booking {booking.reference} is already paid"):
        services.record_payment(booking, provider="cash", amount=booking.price)

    assert list(Payment.objects.values_list("amount", flat=True)) == [booking.price]
    assert services.paid_total(booking) == booking.price
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED
    assert booking.events.filter(action="payment.received").count() == 1


def test_it_refuses_more_than_what_is_still_owed_and_says_how_much_that_is(session, student):
    booking = services.book(session=session, student=student)
    services.record_payment(booking, provider="click", amount="100000")

    with pytest.raises(BookingNotAllowed, match=r"only 250,000 UZS is still owed"):
        services.record_payment(booking, provider="cash", amount=booking.price)

    assert Payment.objects.count() == 1
    assert services.amount_owed(booking) == Decimal("250000")
    services.record_payment(booking, provider="cash", amount="250000")  # exactly what is owed is taken
    assert services.amount_owed(booking) == 0
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_it_counts_money_paid_before_a_reschedule_as_paid(session, student):
    booking = services.book(session=session, student=student)
    services.record_payment(booking, provider="cash", amount=booking.price)
    later = SessionFactory(product=session.product, starts_at=session.starts_at + timedelta(days=1))
    moved = services.reschedule(booking, to_session=later)

    with pytest.raises(BookingNotAllowed, match="already paid"):
        services.record_payment(moved, provider="cash", amount=moved.price)
    assert Payment.objects.count() == 1


def test_it_refuses_more_money_for_a_paid_booking_cancelled_since(session, student):
    """Money for a cancelled booking that owes nothing would only be flagged for refund: it is refused."""
    booking = services.book(session=session, student=student)
    services.record_payment(booking, provider="click", amount=booking.price)
    services.cancel(booking, reason=CancelReason.STAFF)

    with pytest.raises(BookingNotAllowed, match="already paid"):
        services.record_payment(booking, provider="cash", amount=booking.price)
    assert Payment.objects.count() == 1
    assert not Booking.objects.get(pk=booking.pk).needs_refund
