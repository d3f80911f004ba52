"""Click SHOP API through HTTP: Prepare and Complete, every error code, in Click's order of checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingEvent, BookingStatus, CancelReason, Payment, PaymentLog, PaymentStatus
from tests.factories import SessionFactory, StudentFactory
from tests.payments.protocol import click, click_form, click_sign

pytestmark = pytest.mark.django_db


def prepare(client, booking, **kwargs):
    return click(client, "prepare", click_form(booking.reference, stage="prepare", **kwargs))


def complete(client, booking, prepare_id, **kwargs):
    return click(client, "complete", click_form(booking.reference, stage="complete", prepare_id=prepare_id, **kwargs))


def test_it_pays_a_booking_by_prepare_then_complete(client, booking):
    prepared = prepare(client, booking)

    payment = Payment.objects.get()
    assert prepared == {
        "click_trans_id": 7001,
        "merchant_trans_id": booking.reference,
        "merchant_prepare_id": payment.pk,
        "error": 0,
        "error_note": "Success",
    }
    assert (payment.status, payment.provider, payment.provider_txn_id) == (PaymentStatus.PENDING, "click", "7001")
    assert payment.click_paydoc_id == "9001"
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.PENDING

    completed = complete(client, booking, payment.pk)

    assert completed == {
        "click_trans_id": 7001,
        "merchant_trans_id": booking.reference,
        "merchant_confirm_id": payment.pk,
        "error": 0,
        "error_note": "Success",
    }
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED
    actions = list(booking.events.values_list("action", flat=True))
    assert actions == ["booking.created", "payment.started", "payment.received", "booking.confirmed"]
    assert services.amount_owed(booking) == 0


def test_it_accepts_the_amount_with_decimals_as_the_link_had_it(client, booking):
    prepared = prepare(client, booking, amount="350000.00")
    assert prepared["error"] == 0
    assert complete(client, booking, prepared["merchant_prepare_id"], amount="350000.00")["error"] == 0


def test_a_repeated_prepare_returns_the_same_prepare_id(client, booking):
    first = prepare(client, booking)
    again = prepare(client, booking)
    assert again == first
    assert Payment.objects.count() == 1


def test_a_repeated_complete_after_success_answers_already_paid_without_paying_again(client, booking):
    prepare_id = prepare(client, booking)["merchant_prepare_id"]
    assert complete(client, booking, prepare_id)["error"] == 0

    again = complete(client, booking, prepare_id)

    assert (again["error"], again["error_note"]) == (-4, "Already paid")
    assert Payment.objects.filter(status=PaymentStatus.PAID).count() == 1
    assert booking.events.filter(action="payment.received").count() == 1


def test_a_prepare_after_the_booking_is_paid_answers_already_paid(client, booking):
    prepare_id = prepare(client, booking)["merchant_prepare_id"]
    complete(client, booking, prepare_id)
    assert prepare(client, booking, click_trans_id="7002")["error"] == -4
    assert prepare(client, booking)["error"] == -4  # the paid transaction itself, prepared again


def test_a_complete_carrying_a_click_error_cancels_the_attempt_and_answers_minus_9(client, booking):
    prepare_id = prepare(client, booking)["merchant_prepare_id"]

    answer = complete(client, booking, prepare_id, error="-5017")

    assert (answer["error"], answer["error_note"]) == (-9, "Transaction cancelled")
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.FAILED
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING  # left as it was
    assert booking.events.filter(action="payment.failed").exists()
    # Then Click cannot complete it after all.
    assert complete(client, booking, prepare_id)["error"] == -9
    assert prepare(client, booking)["error"] == -9


def test_a_click_error_on_a_paid_payment_answers_already_paid(client, booking):
    prepare_id = prepare(client, booking)["merchant_prepare_id"]
    complete(client, booking, prepare_id)
    assert complete(client, booking, prepare_id, error="-1")["error"] == -4
    assert Payment.objects.get().status == PaymentStatus.PAID


# --- Each error code ---------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["click_trans_id", "amount", "sign_string", "error_note", "sign_time", "action"])
def test_it_answers_minus_8_when_a_parameter_is_missing(client, booking, missing):
    form = click_form(booking.reference, stage="prepare")
    del form[missing]
    assert click(client, "prepare", form)["error"] == -8
    assert not Payment.objects.exists()


def test_an_empty_error_note_is_a_parameter_present(client, booking):
    form = click_form(booking.reference, stage="prepare")
    form["error_note"] = ""
    assert click(client, "prepare", form)["error"] == 0


def test_a_complete_without_merchant_prepare_id_answers_minus_8(client, booking):
    form = click_form(booking.reference, stage="complete", prepare_id=1)
    del form["merchant_prepare_id"]
    assert click(client, "complete", form)["error"] == -8


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("click_trans_id", "abc"),
        ("click_trans_id", "1" * 40),
        ("amount", "lots"),
        ("amount", "-350000"),
        ("amount", "NaN"),
        ("amount", "1e400"),
        ("action", "x"),
        ("error", "none"),
        ("service_id", "99999"),  # not our service
        ("merchant_trans_id", ""),
    ],
)
def test_it_answers_minus_8_to_a_malformed_parameter(client, booking, field, value):
    form = click_form(booking.reference, stage="prepare", **{field: value})
    form["sign_string"] = click_sign(form, complete=False)  # signed, so only the value is wrong
    assert click(client, "prepare", form)["error"] == -8


def test_it_answers_minus_1_to_a_wrong_signature_before_reading_the_database(
    client, booking, django_assert_num_queries
):
    form = click_form(booking.reference, stage="prepare", secret="not-the-secret")
    with django_assert_num_queries(1):  # the PaymentLog row, nothing read
        answer = click(client, "prepare", form)
    assert (answer["error"], answer["error_note"]) == (-1, "SIGN CHECK FAILED!")
    assert not Payment.objects.exists()


def test_a_signature_over_the_prepare_formula_fails_a_complete(client, booking):
    """Complete signs merchant_prepare_id too: the Prepare formula on a Complete is refused."""
    prepare_id = prepare(client, booking)["merchant_prepare_id"]
    form = click_form(booking.reference, stage="complete", prepare_id=prepare_id)
    form["sign_string"] = click_sign(form, complete=False)
    assert click(client, "complete", form)["error"] == -1


def test_a_signed_amount_changed_on_the_way_fails_the_signature(client, booking):
    form = click_form(booking.reference, stage="prepare")
    form["amount"] = "1000"
    assert click(client, "prepare", form)["error"] == -1


def test_it_refuses_every_call_when_no_secret_key_is_set(client, booking, settings):
    settings.CLICK_SECRET_KEY = ""
    assert click(client, "prepare", click_form(booking.reference, stage="prepare", secret=""))["error"] == -1


def test_it_answers_minus_3_to_an_action_the_url_does_not_take(client, booking):
    form = click_form(booking.reference, stage="prepare", action="1")
    form["sign_string"] = click_sign(form, complete=False)
    assert click(client, "prepare", form)["error"] == -3
    form = click_form(booking.reference, stage="complete", prepare_id=1, action="3")
    form["sign_string"] = click_sign(form, complete=True)
    assert click(client, "complete", form)["error"] == -3


def test_it_answers_minus_5_for_an_unknown_booking(client, db):
    for reference in ("NOSUCH1", "BAD REF", "\x00ABC", "X" * 500):
        answer = click(client, "prepare", click_form(reference, stage="prepare"))
        assert (answer["error"], answer["error_note"]) == (-5, "User does not exist")


def test_it_answers_minus_6_for_an_unknown_prepare_id(client, booking):
    prepare_id = prepare(client, booking)["merchant_prepare_id"]
    assert complete(client, booking, prepare_id + 1000)["error"] == -6
    assert complete(client, booking, prepare_id, click_trans_id="7999")["error"] == -6  # not this one's
    other = services.book(session=SessionFactory(), student=StudentFactory())
    assert complete(client, other, prepare_id)["error"] == -6  # another booking's


def test_it_answers_minus_2_for_a_wrong_amount(client, booking):
    assert prepare(client, booking, amount="349999")["error"] == -2
    prepare_id = prepare(client, booking)["merchant_prepare_id"]
    answer = complete(client, booking, prepare_id, amount="1")
    assert (answer["error"], answer["error_note"]) == (-2, "Incorrect parameter amount")
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.PENDING


def test_it_takes_what_is_still_owed_after_a_part_paid_at_the_desk(client, booking):
    services.record_payment(booking, provider="cash", amount="100000")
    assert prepare(client, booking)["error"] == -2
    prepare_id = prepare(client, booking, amount="250000")["merchant_prepare_id"]
    assert complete(client, booking, prepare_id, amount="250000")["error"] == 0
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_it_answers_minus_9_for_a_booking_cancelled_by_staff(client, booking):
    services.cancel(booking, reason=CancelReason.STAFF)
    assert prepare(client, booking)["error"] == -9


def test_a_booking_cancelled_between_prepare_and_complete_is_not_paid(client, booking):
    prepare_id = prepare(client, booking)["merchant_prepare_id"]
    services.cancel(booking, reason=CancelReason.STUDENT)

    assert complete(client, booking, prepare_id)["error"] == -9
    assert Payment.objects.get().status == PaymentStatus.CANCELLED
    assert not Booking.objects.get(pk=booking.pk).needs_refund


def test_a_booking_paid_at_the_desk_between_prepare_and_complete_answers_already_paid(client, booking):
    prepare_id = prepare(client, booking)["merchant_prepare_id"]
    services.record_payment(booking, provider="cash", amount=booking.price)

    assert complete(client, booking, prepare_id)["error"] == -4
    assert Payment.objects.get(provider="click").status == PaymentStatus.CANCELLED
    assert services.paid_total(booking) == booking.price


def test_it_answers_minus_7_when_recording_fails(client, booking, monkeypatch):
    prepare_id = prepare(client, booking)["merchant_prepare_id"]

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "pay_attempt", broken)
    answer = complete(client, booking, prepare_id)

    assert (answer["error"], answer["error_note"]) == (-7, "Failed to update user")
    assert Payment.objects.get().status == PaymentStatus.PENDING


def test_an_expired_booking_with_a_free_seat_is_paid_late_and_rebooked(client, booking):
    with time_machine.travel(booking.expires_at + timedelta(minutes=5)):
        services.expire_due()
        prepare_id = prepare(client, booking)["merchant_prepare_id"]
        assert complete(client, booking, prepare_id)["error"] == 0
    booking.refresh_from_db()
    assert (booking.status, booking.needs_refund) == (BookingStatus.CONFIRMED, False)


def test_an_expired_booking_whose_seat_is_gone_cannot_start_a_payment(client):
    session = SessionFactory(capacity=1)
    booking = services.book(session=session, student=StudentFactory())
    with time_machine.travel(booking.expires_at + timedelta(minutes=5)):
        services.expire_due()
        services.book(session=session, student=StudentFactory())
        assert prepare(client, booking)["error"] == -9


def test_a_prepared_payment_completed_after_the_booking_expired_follows_the_late_payment_rule(client):
    """Click's hold ends an hour after Prepare; a Complete after that keeps the money and flags a refund
    when the seat went to someone else."""
    session = SessionFactory(capacity=1)
    booking = services.book(session=session, student=StudentFactory())
    with time_machine.travel(booking.expires_at - timedelta(minutes=5)):
        prepare_id = prepare(client, booking)["merchant_prepare_id"]
    with time_machine.travel(booking.expires_at + timedelta(hours=2)):
        assert services.expire_due() == 1
        services.book(session=session, student=StudentFactory())
        assert complete(client, booking, prepare_id)["error"] == 0
    booking.refresh_from_db()
    assert (booking.status, booking.needs_refund) == (BookingStatus.CANCELLED, True)
    assert Payment.objects.get(pk=prepare_id).status == PaymentStatus.PAID


def test_the_click_sandbox_sequence(client, booking):
    """Prepare, repeat, complete, repeat; wrong sign; wrong amount; a cancelled attempt -- one payment."""
    assert prepare(client, booking, secret="wrong")["error"] == -1
    assert prepare(client, booking, amount="1000")["error"] == -2
    first = prepare(client, booking, click_trans_id="8001")
    assert complete(client, booking, first["merchant_prepare_id"], click_trans_id="8001", error="-5017")["error"] == -9
    second = prepare(client, booking, click_trans_id="8002")
    assert second["error"] == 0 and second["merchant_prepare_id"] != first["merchant_prepare_id"]
    assert prepare(client, booking, click_trans_id="8002") == second
    assert complete(client, booking, second["merchant_prepare_id"], click_trans_id="8002")["error"] == 0
    assert complete(client, booking, second["merchant_prepare_id"], click_trans_id="8002")["error"] == -4

    assert list(Payment.objects.order_by("pk").values_list("status", flat=True)) == ["failed", "paid"]
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED
    assert PaymentLog.objects.filter(provider="click").count() == 8
    assert BookingEvent.objects.filter(booking=booking, action="payment.received").count() == 1


def test_every_call_is_logged_with_the_signature_redacted(client, booking):
    prepared = prepare(client, booking)
    log = PaymentLog.objects.get()
    assert (log.provider, log.action, log.error, log.payment_id) == (
        "click",
        "prepare",
        None,
        prepared["merchant_prepare_id"],
    )
    assert log.booking_reference == booking.reference
    assert log.request["sign_string"] == "[redacted]"
    assert log.request["click_trans_id"] == "7001"
    assert log.response == prepared
    assert log.created_at <= timezone.now()
