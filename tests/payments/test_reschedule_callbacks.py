"""A provider's attempt started before a reschedule moves with the money to the new booking: Click's
Complete and Payme's Perform, still naming the old reference, pay it there, through the real views."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingStatus, CancelReason, Payment, PaymentStatus, Session
from bookings.payments.core import to_ms
from tests.factories import SessionFactory, StudentFactory
from tests.payments.protocol import click, click_form, error_code, payme

pytestmark = pytest.mark.django_db

PRICE = 35_000_000  # 350,000 UZS in tiyin
TXN = "5305e3bab097f420a62ced0b"


def move(booking: Booking) -> Booking:
    later = SessionFactory(product=booking.session.product, starts_at=booking.session.starts_at + timedelta(days=1))
    return services.reschedule(booking, to_session=later)


def status(booking: Booking) -> tuple[str, str]:
    booking.refresh_from_db()
    return booking.status, booking.cancel_reason


def click_prepare(client, reference: str, **kwargs):
    return click(client, "prepare", click_form(reference, stage="prepare", **kwargs))


def click_complete(client, reference: str, prepare_id, **kwargs):
    return click(client, "complete", click_form(reference, stage="complete", prepare_id=prepare_id, **kwargs))


def payme_create(client, reference: str, *, txn: str = TXN):
    params = {"id": txn, "time": to_ms(timezone.now()), "amount": PRICE, "account": {"booking": reference}}
    return payme(client, "CreateTransaction", params)


# --- Click -------------------------------------------------------------------------------------------


def test_a_click_payment_prepared_before_a_reschedule_is_completed_on_the_new_booking(client, booking):
    prepare_id = click_prepare(client, booking.reference)["merchant_prepare_id"]
    new = move(booking)

    answer = click_complete(client, booking.reference, prepare_id)  # Click keeps the reference it was given

    assert (answer["error"], answer["merchant_confirm_id"]) == (0, prepare_id)
    payment = Payment.objects.get(pk=prepare_id)
    assert (payment.status, payment.booking_id) == (PaymentStatus.PAID, new.pk)
    assert status(new) == (BookingStatus.CONFIRMED, "")
    assert status(booking) == (BookingStatus.CANCELLED, CancelReason.RESCHEDULED)
    assert not booking.needs_refund
    assert (services.paid_total(new), services.paid_total(booking)) == (Decimal("350000"), 0)
    assert list(new.events.values_list("action", flat=True))[-3:] == [
        "payment.moved",
        "payment.received",
        "booking.confirmed",
    ]
    # Click repeats a Complete it got no answer to: the same payment, already paid.
    assert click_complete(client, booking.reference, prepare_id)["error"] == -4
    assert new.events.filter(action="payment.received").count() == 1


def test_a_repeated_click_prepare_after_a_reschedule_answers_the_same_attempt(client, booking):
    prepare_id = click_prepare(client, booking.reference)["merchant_prepare_id"]
    move(booking)

    again = click_prepare(client, booking.reference)

    assert (again["error"], again["merchant_prepare_id"]) == (0, prepare_id)
    assert Payment.objects.count() == 1


def test_a_click_complete_naming_another_booking_is_still_refused(client, booking):
    prepare_id = click_prepare(client, booking.reference)["merchant_prepare_id"]
    move(booking)
    other = services.book(session=SessionFactory(capacity=5), student=StudentFactory(), payment_method="click")

    assert click_complete(client, other.reference, prepare_id)["error"] == -6
    assert Payment.objects.get(pk=prepare_id).status == PaymentStatus.PENDING


def test_a_click_payment_stores_the_reference_it_was_prepared_for(client, booking):
    prepare_id = click_prepare(client, booking.reference)["merchant_prepare_id"]
    new = move(booking)

    payment = Payment.objects.get(pk=prepare_id)
    assert (payment.booking_id, payment.provider_account) == (new.pk, booking.reference)


def test_a_new_click_payment_for_the_rescheduled_reference_is_refused(client, booking):
    move(booking)
    assert click_prepare(client, booking.reference, click_trans_id="7002")["error"] == -9
    assert not Payment.objects.exists()


# --- Payme -------------------------------------------------------------------------------------------


def test_a_payme_transaction_created_before_a_reschedule_is_performed_on_the_new_booking(client, booking):
    transaction = payme_create(client, booking.reference)["result"]["transaction"]
    new = move(booking)

    answer = payme(client, "PerformTransaction", {"id": TXN})

    assert (answer["result"]["transaction"], answer["result"]["state"]) == (transaction, 2)
    payment = Payment.objects.get(pk=transaction)
    assert (payment.status, payment.booking_id) == (PaymentStatus.PAID, new.pk)
    assert status(new) == (BookingStatus.CONFIRMED, "")
    assert status(booking) == (BookingStatus.CANCELLED, CancelReason.RESCHEDULED)
    assert (services.paid_total(new), services.paid_total(booking)) == (Decimal("350000"), 0)
    assert payme(client, "CheckTransaction", {"id": TXN})["result"]["state"] == 2


def test_a_repeated_payme_create_after_a_reschedule_answers_the_same_transaction(client, booking):
    first = payme_create(client, booking.reference)
    move(booking)

    assert payme_create(client, booking.reference) == first


def test_get_statement_reports_a_moved_transaction_under_the_account_it_was_created_with(client, booking):
    """Payme's statement must match its own records: the account CreateTransaction gave, as it gave it
    (here in lower case), not the reference of the booking the payment moved to."""
    transaction = payme_create(client, booking.reference.lower())["result"]["transaction"]
    new = move(booking)
    payme(client, "PerformTransaction", {"id": TXN})
    now = to_ms(timezone.now())

    statement = payme(client, "GetStatement", {"from": now - 60_000, "to": now + 60_000})["result"]

    [entry] = statement["transactions"]
    assert (entry["id"], entry["transaction"], entry["state"]) == (TXN, transaction, 2)
    assert entry["account"] == {"booking": booking.reference.lower()}
    assert Payment.objects.get(pk=transaction).booking_id == new.pk


def test_a_new_payme_transaction_for_the_rescheduled_reference_is_refused(client, booking):
    move(booking)
    assert error_code(payme_create(client, booking.reference)) == -31051


def test_payme_cancelling_a_moved_payment_refunds_it_from_the_new_booking(client, booking):
    payme_create(client, booking.reference)
    new = move(booking)
    payme(client, "PerformTransaction", {"id": TXN})

    assert payme(client, "CancelTransaction", {"id": TXN, "reason": 5})["result"]["state"] == -2

    assert status(new) == (BookingStatus.CANCELLED, CancelReason.STAFF)
    assert Session.objects.get(pk=new.session_id).seats_taken == 0
    assert new.events.filter(action="payment.refunded").exists()
    assert not booking.events.filter(action="payment.refunded").exists()


def test_a_moved_payme_transaction_keeps_the_new_booking_from_expiring(client, booking):
    deadline = booking.expires_at
    with time_machine.travel(deadline - timedelta(minutes=10), tick=False):
        payme_create(client, booking.reference)
        new = move(booking)
    assert new.expires_at == deadline

    with time_machine.travel(deadline + timedelta(hours=1), tick=False):
        assert services.expire_due() == 0
    assert status(new) == (BookingStatus.PENDING, "")
