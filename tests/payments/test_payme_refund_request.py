"""services.request_payme_refund: "refund requested", then completed by Payme's CancelTransaction.

Payme returns a performed payment only when the merchant cancels it in the Payme Business
cabinet; Payme then calls CancelTransaction on our endpoint, which records the refund.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from bookings import services
from bookings.errors import BookingNotAllowed
from bookings.models import Booking, BookingStatus, Payment, PaymentStatus, Session
from tests.factories import ManagerFactory
from tests.payments.test_payme import TXN, cancel, check, create, perform

pytestmark = pytest.mark.django_db

REFUND_BY_MERCHANT = 5  # Payme's reason: "refund" (the merchant cancelled a performed transaction)


@pytest.fixture
def manager(db):
    return ManagerFactory()


@pytest.fixture
def performed(client, booking) -> Payment:
    create(client, booking)
    assert perform(client)["result"]["state"] == 2
    return Payment.objects.get(provider="payme", provider_txn_id=TXN)


def test_it_marks_the_payment_refund_requested_with_who_and_when(performed, manager):
    result = services.request_payme_refund(performed, reason="Student moved abroad", actor=manager)

    assert result.refund_pending
    assert (result.status, result.refunded_amount, result.refund_requested_by) == (PaymentStatus.PAID, 0, manager)
    assert result.refund_requested_at is not None
    booking = Booking.objects.get(pk=performed.booking_id)
    assert booking.status == BookingStatus.CONFIRMED  # nothing moves until Payme cancels
    event = booking.events.get(action="payment.refund_requested")
    assert event.actor == manager
    assert event.data == {
        "payment": performed.pk,
        "provider": "payme",
        "amount": "350000.00",
        "reason": "Student moved abroad",
        "transaction": TXN,
    }


def test_paymes_cancel_transaction_after_perform_completes_a_requested_refund(
    client, performed, manager, mailoutbox, django_capture_on_commit_callbacks
):
    services.request_payme_refund(performed, reason="Student moved abroad", actor=manager)

    # The merchant cancels the transaction in the Payme Business cabinet; Payme calls us.
    with django_capture_on_commit_callbacks(execute=True):
        answer = cancel(client, reason=REFUND_BY_MERCHANT)

    performed.refresh_from_db()
    assert answer["result"] == {"transaction": str(performed.pk), "cancel_time": performed.cancel_time, "state": -2}
    assert (performed.status, performed.refunded_amount) == (PaymentStatus.REFUNDED, performed.amount)
    assert not performed.refund_pending
    assert performed.refund_requested_by == manager  # kept: who asked for it
    booking = Booking.objects.get(pk=performed.booking_id)
    assert booking.status == BookingStatus.CANCELLED
    assert Session.objects.get(pk=booking.session_id).seats_taken == 0
    assert [e.action for e in booking.events.order_by("pk")][-3:] == [
        "payment.refund_requested",
        "payment.refunded",
        "booking.cancelled",
    ]
    assert check(client)["result"]["state"] == -2
    assert len(mailoutbox) == 1 and "refunded" in mailoutbox[0].subject


def test_it_refuses_a_second_request(performed, manager):
    services.request_payme_refund(performed, reason="once", actor=manager)
    with pytest.raises(BookingNotAllowed, match="already requested"):
        services.request_payme_refund(performed, reason="twice", actor=manager)
    assert Booking.objects.get(pk=performed.booking_id).events.filter(action="payment.refund_requested").count() == 1


def test_it_refuses_a_transaction_that_was_not_performed_or_is_refunded(client, booking, manager):
    create(client, booking)
    waiting = Payment.objects.get(provider_txn_id=TXN)
    with pytest.raises(BookingNotAllowed, match="performed Payme transaction"):
        services.request_payme_refund(waiting, reason="not paid yet", actor=manager)

    perform(client)
    cancel(client, reason=REFUND_BY_MERCHANT)  # refunded from the cabinet without asking us first
    with pytest.raises(BookingNotAllowed, match=r"Only a performed|Nothing"):
        services.request_payme_refund(waiting, reason="again", actor=manager)


def test_it_refuses_when_payme_would_refuse_the_cancellation(performed, manager):
    booking = performed.booking
    with time_machine.travel(booking.session.starts_at + timedelta(minutes=5)):  # the session was held
        with pytest.raises(BookingNotAllowed, match="delivered"):
            services.request_payme_refund(performed, reason="too late", actor=manager)
    performed.refresh_from_db()
    assert performed.refund_requested_at is None


def test_it_refuses_cash_and_click_payments(booking, manager):
    cash = services.record_payment(booking, provider="cash", amount=booking.price)
    with pytest.raises(BookingNotAllowed, match="Only a performed Payme"):
        services.request_payme_refund(cash, reason="wrong provider", actor=manager)


def test_it_wants_a_reason(performed, manager):
    with pytest.raises(BookingNotAllowed, match="why"):
        services.request_payme_refund(performed, reason="", actor=manager)
