"""Payme Merchant API through HTTP: the six methods, their states, reasons, times and error codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from bookings import services
from bookings.models import Booking, BookingStatus, CancelReason, Payment, PaymentLog, PaymentStatus, Session
from bookings.payments.core import to_ms
from tests.factories import SessionFactory, StudentFactory
from tests.payments.protocol import PAYME_TEST_KEY, error_code, payme

pytestmark = pytest.mark.django_db

PRICE = 35_000_000  # 350,000 UZS in tiyin
TXN = "5305e3bab097f420a62ced0b"
OTHER_TXN = "5305e3bab097f420a62ced0c"


def account(booking) -> dict[str, str]:
    return {"booking": booking.reference}


def create(client, booking, *, txn=TXN, time=None, amount=PRICE):
    params = {"id": txn, "time": time if time is not None else to_ms(timezone.now()), "amount": amount}
    return payme(client, "CreateTransaction", {**params, "account": account(booking)})


def perform(client, txn=TXN):
    return payme(client, "PerformTransaction", {"id": txn})


def cancel(client, txn=TXN, reason=3):
    return payme(client, "CancelTransaction", {"id": txn, "reason": reason})


def check(client, txn=TXN):
    return payme(client, "CheckTransaction", {"id": txn})


def seats(booking) -> int:
    return Session.objects.get(pk=booking.session_id).seats_taken


# --- CheckPerformTransaction ---------------------------------------------------------------------------


def test_check_perform_allows_a_payable_booking(client, booking):
    answer = payme(client, "CheckPerformTransaction", {"amount": PRICE, "account": account(booking)})
    assert answer["result"] == {"allow": True}


def test_check_perform_refuses_a_wrong_amount(client, booking):
    answer = payme(client, "CheckPerformTransaction", {"amount": PRICE - 100, "account": account(booking)})
    assert answer["error"]["code"] == -31001
    assert set(answer["error"]["message"]) == {"ru", "uz", "en"}


@pytest.mark.parametrize("account_value", [{"booking": "NOSUCH9"}, {"booking": 12}, {"order": "X"}, {}, "ABC", None])
def test_check_perform_answers_an_account_error_naming_the_field(client, db, account_value):
    answer = payme(client, "CheckPerformTransaction", {"amount": PRICE, "account": account_value})
    assert answer["error"]["code"] == -31050
    assert answer["error"]["data"] == "booking"
    assert answer["error"]["message"]["ru"] and answer["error"]["message"]["uz"] and answer["error"]["message"]["en"]


def test_check_perform_refuses_a_paid_or_cancelled_booking(client, booking):
    cancelled = services.book(session=SessionFactory(), student=StudentFactory())
    services.cancel(cancelled, reason=CancelReason.STAFF)
    answer = payme(client, "CheckPerformTransaction", {"amount": PRICE, "account": account(cancelled)})
    assert (answer["error"]["code"], answer["error"]["data"]) == (-31051, "booking")

    services.record_payment(booking, provider="cash", amount=booking.price)
    answer = payme(client, "CheckPerformTransaction", {"amount": PRICE, "account": account(booking)})
    assert (answer["error"]["code"], answer["error"]["data"]) == (-31052, "booking")


# --- CreateTransaction ---------------------------------------------------------------------------------


def test_create_starts_a_pending_payment_in_state_1(client, booking):
    payme_time = to_ms(timezone.now()) - 5000
    answer = create(client, booking, time=payme_time)

    payment = Payment.objects.get()
    assert answer["result"] == {
        "create_time": payment.create_time,
        "transaction": str(payment.pk),
        "state": 1,
        "receivers": None,
    }
    assert (payment.status, payment.provider_state, payment.provider_time) == (PaymentStatus.PENDING, 1, payme_time)
    assert payment.amount == booking.price
    assert payment.holds_until == services_time(payme_time + 43_200_000)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.PENDING


def services_time(ms: int):
    from bookings.payments.core import from_ms

    return from_ms(ms)


def test_a_repeated_create_returns_the_same_answer(client, booking):
    first = create(client, booking)
    assert create(client, booking) == first
    assert Payment.objects.count() == 1


def test_a_second_create_with_a_new_id_while_one_waits_is_refused(client, booking):
    create(client, booking)
    answer = create(client, booking, txn=OTHER_TXN)
    assert (answer["error"]["code"], answer["error"]["data"]) == (-31008, "booking")
    assert Payment.objects.count() == 1
    # and CheckPerformTransaction says the same
    answer = payme(client, "CheckPerformTransaction", {"amount": PRICE, "account": account(booking)})
    assert answer["error"]["code"] == -31008


def test_create_refuses_a_time_older_than_12_hours(client, booking):
    old = to_ms(timezone.now()) - 43_200_001
    answer = create(client, booking, time=old)
    assert (answer["error"]["code"], answer["error"]["data"]) == (-31008, "time")
    assert not Payment.objects.exists()


def test_create_refuses_a_wrong_amount_and_an_unknown_booking(client, booking):
    assert error_code(create(client, booking, amount=PRICE + 1)) == -31001
    assert error_code(create(client, booking, amount=12.5)) == -31001
    ghost = Booking(reference="NOSUCH2")
    assert error_code(create(client, ghost)) == -31050
    assert not Payment.objects.exists()


def test_create_on_a_transaction_past_12_hours_cancels_it_with_reason_4(client, booking):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        create(client, booking)
        clock.shift(timedelta(hours=12, seconds=1))

        answer = create(client, booking)

        assert answer["error"]["code"] == -31008
        payment = Payment.objects.get()
        assert (payment.provider_state, payment.provider_reason, payment.status) == (-1, 4, PaymentStatus.CANCELLED)
        assert payment.cancel_time == to_ms(timezone.now())
        # A new transaction may now be created for the booking (its own deadline permitting).
        assert error_code(create(client, booking, txn=OTHER_TXN)) is None


def test_a_second_create_after_the_first_timed_out_ends_the_first(client, booking):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        create(client, booking)
        clock.shift(timedelta(hours=13))
        answer = create(client, booking, txn=OTHER_TXN)
    assert answer["result"]["state"] == 1
    first = Payment.objects.get(provider_txn_id=TXN)
    assert (first.provider_state, first.provider_reason) == (-1, 4)


# --- PerformTransaction --------------------------------------------------------------------------------


def test_perform_pays_the_booking(client, booking):
    create(client, booking)
    answer = perform(client)

    payment = Payment.objects.get()
    assert answer["result"] == {"transaction": str(payment.pk), "perform_time": payment.perform_time, "state": 2}
    assert payment.perform_time == to_ms(payment.performed_at)
    assert (payment.status, payment.provider_state) == (PaymentStatus.PAID, 2)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_a_repeated_perform_returns_the_stored_answer(client, booking):
    create(client, booking)
    first = perform(client)
    assert perform(client) == first
    assert booking.events.filter(action="payment.received").count() == 1


def test_perform_of_an_unknown_transaction_is_not_found(client, db):
    assert error_code(perform(client, "ffffffffffffffffffffffff")) == -31003


def test_perform_past_12_hours_cancels_with_reason_4(client, booking):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        create(client, booking)
        clock.shift(timedelta(hours=12, minutes=1))
        assert error_code(perform(client)) == -31008
    payment = Payment.objects.get()
    assert (payment.provider_state, payment.provider_reason) == (-1, 4)
    assert check(client)["result"]["state"] == -1


def test_perform_of_a_cancelled_transaction_is_refused(client, booking):
    create(client, booking)
    cancel(client)
    assert error_code(perform(client)) == -31008


def test_perform_after_the_desk_took_the_money_refuses_and_cancels_the_transaction(client, booking):
    create(client, booking)
    services.record_payment(booking, provider="cash", amount=booking.price)

    assert error_code(perform(client)) == -31008

    payment = Payment.objects.get(provider="payme")
    assert (payment.status, payment.provider_state, payment.provider_reason) == ("cancelled", -1, 3)
    assert services.paid_total(booking) == booking.price


def test_perform_after_the_booking_was_cancelled_is_refused(client, booking):
    create(client, booking)
    services.cancel(booking, reason=CancelReason.STUDENT)
    assert error_code(perform(client)) == -31008
    assert not Payment.objects.filter(status=PaymentStatus.PAID).exists()


# --- CancelTransaction -------------------------------------------------------------------------------


def test_cancel_before_perform_leaves_the_booking_pending(client, booking):
    create(client, booking)
    answer = cancel(client, reason=3)

    payment = Payment.objects.get()
    assert answer["result"] == {"transaction": str(payment.pk), "cancel_time": payment.cancel_time, "state": -1}
    assert (payment.provider_reason, payment.status) == (3, PaymentStatus.FAILED)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
    assert seats(booking) == 1
    assert cancel(client, reason=3) == answer  # repeated: the stored answer


def test_cancel_after_perform_refunds_cancels_the_booking_and_releases_its_seat(
    client, booking, mailoutbox, django_capture_on_commit_callbacks
):
    RefreshToken.for_user(booking.student)  # the student uses the app: their bell keeps the refund
    create(client, booking)
    perform(client)

    with django_capture_on_commit_callbacks(execute=True):
        answer = cancel(client, reason=5)

    payment = Payment.objects.get()
    assert answer["result"] == {"transaction": str(payment.pk), "cancel_time": payment.cancel_time, "state": -2}
    assert (payment.status, payment.refunded_amount, payment.provider_reason) == ("refunded", booking.price, 5)
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.STAFF)
    assert seats(booking) == 0
    assert services.paid_total(booking) == 0
    assert [m.to for m in mailoutbox] == [[booking.student.email]]
    assert booking.student.notifications.filter(type="payment.refunded").exists()
    assert cancel(client, reason=5) == answer


def test_cancel_after_the_session_was_held_is_refused(client, booking):
    create(client, booking)
    perform(client)
    with time_machine.travel(booking.session.starts_at + timedelta(minutes=1)):
        answer = cancel(client, reason=5)
    assert answer["error"]["code"] == -31007
    assert Payment.objects.get().status == PaymentStatus.PAID


def test_cancel_after_a_result_was_recorded_is_refused(client, booking):
    create(client, booking)
    perform(client)
    Booking.objects.filter(pk=booking.pk).update(has_result=True)
    assert error_code(cancel(client, reason=5)) == -31007


def test_cancel_of_an_unknown_transaction_is_not_found(client, db):
    assert error_code(cancel(client, "ffffffffffffffffffffffff")) == -31003


# --- CheckTransaction, GetStatement -----------------------------------------------------------------


def test_check_transaction_answers_zero_for_times_not_set_and_null_reason(client, booking):
    create(client, booking)
    payment = Payment.objects.get()
    assert check(client)["result"] == {
        "create_time": payment.create_time,
        "perform_time": 0,
        "cancel_time": 0,
        "transaction": str(payment.pk),
        "state": 1,
        "reason": None,
    }
    assert error_code(check(client, "ffffffffffffffffffffffff")) == -31003


def test_get_statement_lists_transactions_by_paymes_time(client, booking):
    now = to_ms(timezone.now())
    create(client, booking, time=now - 1000)
    perform(client)
    other = services.book(session=SessionFactory(), student=StudentFactory())
    create(client, other, txn=OTHER_TXN, time=now - 500)

    answer = payme(client, "GetStatement", {"from": now - 2000, "to": now})

    rows = answer["result"]["transactions"]
    assert [(row["id"], row["state"]) for row in rows] == [(TXN, 2), (OTHER_TXN, 1)]
    first = Payment.objects.get(provider_txn_id=TXN)
    assert rows[0] == {
        "id": TXN,
        "time": now - 1000,
        "amount": PRICE,
        "account": {"booking": booking.reference},
        "create_time": first.create_time,
        "perform_time": first.perform_time,
        "cancel_time": 0,
        "transaction": str(first.pk),
        "state": 2,
        "reason": None,
        "receivers": None,
    }
    assert payme(client, "GetStatement", {"from": now - 700, "to": now})["result"]["transactions"][0]["id"] == OTHER_TXN
    assert payme(client, "GetStatement", {"from": now, "to": now - 1})["result"] == {"transactions": []}


# --- Keys ------------------------------------------------------------------------------------------------


def test_test_mode_takes_the_test_key_and_refuses_the_production_key(client, booking, settings):
    settings.PAYME_TEST_MODE = True
    answer = payme(
        client, "CheckPerformTransaction", {"amount": PRICE, "account": account(booking)}, key=PAYME_TEST_KEY
    )
    assert answer["result"] == {"allow": True}
    assert (
        error_code(payme(client, "CheckPerformTransaction", {"amount": PRICE, "account": account(booking)})) == -32504
    )


def test_every_call_is_logged(client, booking):
    create(client, booking)
    log = PaymentLog.objects.get()
    assert (log.provider, log.action, log.error) == ("payme", "CreateTransaction", None)
    assert log.payment == Payment.objects.get()
    assert log.request["params"]["id"] == TXN
    assert "Authorization" not in str(log.request)
