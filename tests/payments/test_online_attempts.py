"""services.start_online_payment / cancel_payment_attempt, and record_payment completing an attempt."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bookings import services
from bookings.errors import BookingNotAllowed, InvalidTransition
from bookings.models import Booking, BookingStatus, Payment, PaymentStatus
from tests.factories import SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db


def start(booking, txn: str = "T1", provider: str = "payme", amount=None) -> Payment:
    return services.start_online_payment(
        booking,
        provider=provider,
        amount=booking.price if amount is None else amount,
        provider_txn_id=txn,
        holds_until=timezone.now() + timedelta(hours=12),
        provider_state=1,
    )


def test_it_starts_a_pending_payment_once_per_transaction(booking):
    first = start(booking)
    assert start(booking) == first
    assert (first.status, first.provider_state, first.amount) == (PaymentStatus.PENDING, 1, booking.price)
    assert Payment.objects.count() == 1
    assert list(booking.events.values_list("action", flat=True)) == ["booking.created", "payment.started"]


def test_it_refuses_another_bookings_transaction_a_cash_attempt_and_unknown_fields(booking):
    start(booking)
    other = services.book(session=SessionFactory(), student=StudentFactory())
    with pytest.raises(BookingNotAllowed, match="another booking"):
        start(other)
    with pytest.raises(BookingNotAllowed):
        start(booking, txn="T2", provider="cash")
    with pytest.raises(TypeError):
        services.start_online_payment(
            booking, provider="click", amount=1, provider_txn_id="T3", holds_until=timezone.now(), status="paid"
        )


def test_a_pending_payment_is_not_money_paid(booking):
    start(booking)
    assert services.paid_total(booking) == 0
    assert services.amount_owed(booking) == booking.price


def test_record_payment_pays_the_attempt_it_was_started_as(booking):
    attempt = start(booking)
    paid = services.record_payment(booking, provider="payme", amount=booking.price, provider_txn_id="T1")

    assert paid.pk == attempt.pk
    assert (paid.status, paid.performed_at is not None) == (PaymentStatus.PAID, True)
    assert Payment.objects.count() == 1
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED
    assert services.record_payment(booking, provider="payme", amount=booking.price, provider_txn_id="T1") == paid


def test_record_payment_refuses_another_amount_than_the_attempt_was_started_for(booking):
    start(booking, amount=Decimal("100000"))
    with pytest.raises(BookingNotAllowed, match="started for"):
        services.record_payment(booking, provider="payme", amount=booking.price, provider_txn_id="T1")
    assert Payment.objects.get().status == PaymentStatus.PENDING


def test_a_cancelled_attempt_ends_without_money_and_cannot_be_paid(booking):
    attempt = start(booking)
    services.cancel_payment_attempt(attempt, note="timed out", provider_state=-1, provider_reason=4)

    attempt.refresh_from_db()
    assert (attempt.status, attempt.provider_state, attempt.provider_reason) == ("cancelled", -1, 4)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.PENDING
    assert booking.events.get(action="payment.cancelled").data["note"] == "timed out"
    with pytest.raises(InvalidTransition):
        services.cancel_payment_attempt(attempt)
    with pytest.raises(BookingNotAllowed, match="cancelled"):
        services.record_payment(booking, provider="payme", amount=booking.price, provider_txn_id="T1")


def test_a_failed_attempt_is_marked_failed(booking):
    attempt = services.cancel_payment_attempt(start(booking), failed=True)
    assert attempt.status == PaymentStatus.FAILED
    assert booking.events.filter(action="payment.failed").exists()
