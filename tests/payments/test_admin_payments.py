"""The Payments admin: the list (state, filters for stuck attempts and refunds due), a payment's page
with its calls, the cash-only add form, and refunds -- managers only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingStatus, Payment, PaymentLog, PaymentStatus, Session
from bookings.payments.core import from_ms
from tests.factories import ManagerFactory, OperatorFactory, SessionFactory, StudentFactory
from tests.payments import protocol
from tests.payments.test_click_reversal import REVERSAL_PATH, pay_by_click
from tests.payments.test_payme import TXN, cancel, create, perform

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:bookings_payment_changelist")


@pytest.fixture
def manager_client(client):
    client.force_login(ManagerFactory())
    return client


@pytest.fixture
def operator_client(db):
    from django.test import Client

    client = Client()
    client.force_login(OperatorFactory())
    return client


def payment_url(payment: Payment) -> str:
    return reverse("admin:bookings_payment_change", args=[payment.pk])


def refund_url(payment: Payment) -> str:
    return reverse("admin:bookings_payment_refund_payment", args=[payment.pk])


def listed(client, **params) -> list[Payment]:
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def another_booking(booking: Booking) -> Booking:
    return services.book(session=booking.session, student=StudentFactory())


# --- The list ------------------------------------------------------------------------------------


def test_it_lists_provider_state_amounts_and_provider_times(manager_client, client, booking):
    create(client, booking)
    payme_waiting = Payment.objects.get(provider_txn_id=TXN)
    click_paid = pay_by_click(client, another_booking(booking))

    response = manager_client.get(CHANGELIST)

    html = response.content.decode()
    assert "Pending · Payme state 1" in html
    assert "Paid · Click completed" in html
    assert "350,000 UZS" in html
    assert {p.pk for p in response.context["cl"].result_list} == {payme_waiting.pk, click_paid.pk}
    payme_time = timezone.localtime(from_ms(payme_waiting.provider_time))
    assert f"{payme_time:%Y-%m-%d %H:%M:%S}" in html


def test_the_stuck_filter_lists_attempts_past_the_providers_limit(manager_client, client, booking):
    create(client, booking)  # Payme, state 1
    payme = Payment.objects.get(provider_txn_id=TXN)
    prepared = protocol.click(
        client, "prepare", protocol.click_form(another_booking(booking).reference, stage="prepare")
    )
    click = Payment.objects.get(pk=prepared["merchant_prepare_id"])
    paid = services.record_payment(another_booking(booking), provider="cash", amount=booking.price)

    assert listed(manager_client, stuck="yes") == []
    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1)):
        assert listed(manager_client, stuck="yes") == [click]  # Click: prepared over an hour ago
    with time_machine.travel(timezone.now() + timedelta(hours=12, minutes=1)):
        stuck = listed(manager_client, stuck="yes")
        assert set(stuck) == {click, payme}
        html = manager_client.get(CHANGELIST, {"stuck": "yes"}).content.decode()
        assert "Stuck · Payme state 1" in html and "Stuck · Click prepared" in html
    assert paid not in stuck


def test_the_refund_filter_lists_requested_refunds_and_flagged_bookings(manager_client, client, booking):
    create(client, booking)
    perform(client)
    payme = Payment.objects.get(provider_txn_id=TXN)
    services.request_payme_refund(payme, reason="Student moved abroad", actor=None)
    # A late payment that found no seat: kept, and the booking flagged for a refund.
    session = SessionFactory(capacity=1)
    late = services.book(session=session, student=StudentFactory())
    with time_machine.travel(late.expires_at + timedelta(minutes=1)):
        services.expire_due()
        services.book(session=session, student=StudentFactory())
        kept = services.record_payment(late, provider="cash", amount=late.price)
    services.record_payment(another_booking(booking), provider="cash", amount=booking.price)  # nothing due

    assert set(listed(manager_client, refund="due")) == {payme, kept}
    html = manager_client.get(CHANGELIST, {"refund": "due"}).content.decode()
    assert "Refund requested · Payme state 2" in html

    cancel(client, reason=5)  # Payme completes its refund: no longer due
    assert listed(manager_client, refund="due") == [kept]


def test_it_filters_by_provider_and_status(manager_client, client, booking):
    click_paid = pay_by_click(client, booking)
    cash = services.record_payment(another_booking(booking), provider="cash", amount=booking.price)

    assert listed(manager_client, provider__exact="click") == [click_paid]
    assert listed(manager_client, provider__exact="cash", status__exact="paid") == [cash]


# --- A payment's page --------------------------------------------------------------------------


def test_the_payment_page_shows_its_calls_with_secrets_redacted(manager_client, client, booking):
    payment = pay_by_click(client, booking)

    html = manager_client.get(payment_url(payment)).content.decode()

    assert "Calls (2)" in html
    assert "Click prepare" in html and "Click complete" in html
    assert "[redacted]" in html
    signed = protocol.click_form(booking.reference, stage="prepare", click_trans_id="7001")["sign_string"]
    assert signed not in html


def test_the_payment_page_reads_its_calls_in_one_query_however_many(manager_client, client, booking):
    payment = pay_by_click(client, booking)

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert manager_client.get(payment_url(payment)).status_code == 200
        return len(queries)

    manager_client.get(payment_url(payment))
    with_2 = page_queries()
    for _ in range(20):
        protocol.click(
            client,
            "complete",
            protocol.click_form(booking.reference, stage="complete", prepare_id=payment.pk, click_trans_id="7001"),
        )
    assert PaymentLog.objects.filter(payment=payment).count() == 22
    assert page_queries() == with_2


# --- The add form: cash only -------------------------------------------------------------------


def test_the_add_form_records_cash_only_and_cannot_complete_an_online_attempt(manager_client, client, booking):
    """Typing a provider and a pending attempt's transaction id once paid that attempt from the desk."""
    prepared = protocol.click(client, "prepare", protocol.click_form(booking.reference, stage="prepare"))
    attempt = Payment.objects.get(pk=prepared["merchant_prepare_id"])

    response = manager_client.post(
        reverse("admin:bookings_payment_add"),
        {"booking": booking.pk, "provider": "click", "amount": "350000", "provider_txn_id": attempt.provider_txn_id},
    )

    assert response.status_code == 302
    attempt.refresh_from_db()
    assert attempt.status == PaymentStatus.PENDING  # still Click's to complete (or time out)
    cash = Payment.objects.exclude(pk=attempt.pk).get(booking=booking)
    assert (cash.provider, cash.provider_txn_id, cash.status) == ("cash", None, PaymentStatus.PAID)


# --- Refunds: managers only --------------------------------------------------------------------


def test_an_operator_gets_no_refund_button_and_a_403(operator_client, booking):
    payment = services.record_payment(booking, provider="cash", amount=booking.price)

    assert operator_client.get(payment_url(payment)).status_code == 200
    assert refund_url(payment) not in operator_client.get(payment_url(payment)).content.decode()
    assert operator_client.get(refund_url(payment)).status_code == 403
    assert operator_client.post(refund_url(payment), {"reason": "mine"}).status_code == 403
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_a_manager_refunds_cash_in_part_then_the_rest(manager_client, booking):
    payment = services.record_payment(booking, provider="cash", amount=booking.price)
    assert refund_url(payment) in manager_client.get(payment_url(payment)).content.decode()
    page = manager_client.get(refund_url(payment))
    assert page.status_code == 200 and "Refund cash" in page.content.decode()

    response = manager_client.post(refund_url(payment), {"amount": "50000", "reason": "Tutor was late"}, follow=True)

    assert response.redirect_chain[-1][0] == payment_url(payment)
    assert "50,000 UZS of booking" in shown_messages(response)[0]
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, 50000)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED

    manager_client.post(refund_url(payment), {"amount": "", "reason": "Cancelled after all"})
    payment.refresh_from_db()
    assert payment.refunded_amount == payment.amount
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CANCELLED
    assert Session.objects.get(pk=booking.session_id).seats_taken == 0
    assert refund_url(payment) not in manager_client.get(payment_url(payment)).content.decode()


@pytest.mark.parametrize(
    ("amount", "error"), [("350001", "less than or equal"), ("-1", "greater than"), ("x", "number")]
)
def test_a_cash_refund_of_a_wrong_amount_is_a_form_error(manager_client, booking, amount, error):
    payment = services.record_payment(booking, provider="cash", amount=booking.price)
    response = manager_client.post(refund_url(payment), {"amount": amount, "reason": "r"})
    assert response.status_code == 200
    assert error in str(response.context["form"].errors["amount"])
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_a_manager_refunds_a_click_payment_through_click(manager_client, client, booking, httpserver, settings):
    settings.CLICK_API_URL = httpserver.url_for("/v2/merchant")
    payment = pay_by_click(client, booking)
    httpserver.expect_oneshot_request(REVERSAL_PATH, method="DELETE").respond_with_json({"error_code": 0})
    page = manager_client.get(refund_url(payment)).content.decode()
    assert "Refund through Click" in page and 'name="amount"' not in page  # Click reverses it whole

    response = manager_client.post(refund_url(payment), {"reason": "Student moved abroad"}, follow=True)

    assert "reversed by Click" in shown_messages(response)[0]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert "Click reversal" in response.content.decode()  # the call, on the payment's page


def test_a_click_refusal_is_shown_on_the_form_and_changes_nothing(
    manager_client, client, booking, httpserver, settings
):
    settings.CLICK_API_URL = httpserver.url_for("/v2/merchant")
    payment = pay_by_click(client, booking)
    httpserver.expect_oneshot_request(REVERSAL_PATH, method="DELETE").respond_with_json(
        {"error_code": -5017, "error_note": "Reversal period expired"}
    )

    response = manager_client.post(refund_url(payment), {"reason": "Student moved abroad"})

    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors()
    assert "Click refused the reversal (error -5017: Reversal period expired)" in error
    payment.refresh_from_db()
    assert (payment.status, payment.refund_requested_at) == (PaymentStatus.PAID, None)


def test_a_payme_refund_is_requested_with_the_cabinet_step_then_completed_by_payme(manager_client, client, booking):
    create(client, booking)
    perform(client)
    payment = Payment.objects.get(provider_txn_id=TXN)
    assert "Request a Payme refund" in manager_client.get(refund_url(payment)).content.decode()

    response = manager_client.post(refund_url(payment), {"reason": "Student moved abroad"}, follow=True)

    [message] = shown_messages(response)
    assert f"Payme transaction {TXN}" in message
    assert "Payme Business cabinet" in message and "cancel it" in message
    assert "CancelTransaction" in message
    payment.refresh_from_db()
    assert payment.refund_pending
    assert refund_url(payment) not in response.content.decode()  # asked once

    cancel(client, reason=5)
    payment.refresh_from_db()
    assert (payment.status, payment.provider_state) == (PaymentStatus.REFUNDED, -2)


def test_no_refund_is_offered_for_money_not_taken(manager_client, client, booking):
    create(client, booking)  # Payme, waiting in state 1
    payment = Payment.objects.get(provider_txn_id=TXN)
    assert refund_url(payment) not in manager_client.get(payment_url(payment)).content.decode()
    response = manager_client.post(refund_url(payment), {"reason": "nothing to return"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


def test_the_admin_checks_pass_before_the_refund_permission_exists():
    """`manage.py migrate` runs the system checks before it creates the permission: they must pass."""
    from django.contrib import admin
    from django.contrib.auth.models import Permission

    Permission.objects.filter(codename="refund_payment").delete()

    assert admin.site._registry[Payment].check() == []
