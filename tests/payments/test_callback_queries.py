"""What one paying callback costs the database, pinned: Payme's PerformTransaction and Click's Complete
(bench/payment_callbacks.py measures the same calls under load), each in one transaction with its log."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings.models import BookingStatus, PaymentLog
from bookings.payments.core import to_ms
from tests.payments.protocol import click, click_form, payme

PRICE = 35_000_000
TXN = "63a1a8a2b1c2d3e4f5a6b7c8"

# The callback's own statements; the booking's confirmation after them is the state machine's
# (one compare-and-set with its history row on PostgreSQL, three statements elsewhere), then the
# reminders (cancel, insert) and the student's notification. The start reminders are made from the
# rows the compare-and-set returns (state_machine.Moved: start, tutor, the student's addresses): the
# booking is not read again for them.
PAYING = [
    "lock the booking",  # Click: by reference; Payme: through the transaction id (a subquery)
    "read and lock the payment, with what its booking has paid (amount_owed)",
    "update the payment",
    "history: payment.received",
    "confirm: compare-and-set + history",
    "cancel the payment reminders",
    "insert the reminders",
    "the student's notification",
    "the call's PaymentLog row",
]
TRANSACTION = 2  # SAVEPOINT and RELEASE here (the test's own transaction around it), or BEGIN and COMMIT
ORM_CONFIRM = 2  # SQLite: the state machine's compare-and-set is three ORM statements, not one


def paying_statements() -> int:
    return len(PAYING) + TRANSACTION + (ORM_CONFIRM if connection.vendor != "postgresql" else 0)


def payme_create(client, booking) -> None:
    params = {"id": TXN, "time": to_ms(timezone.now()), "amount": PRICE, "account": {"booking": booking.reference}}
    assert payme(client, "CreateTransaction", params)["result"]["state"] == 1


@pytest.mark.django_db
def test_a_payme_perform_takes_a_pinned_number_of_statements(client, booking, django_assert_num_queries):
    payme_create(client, booking)

    with django_assert_num_queries(paying_statements()):
        assert payme(client, "PerformTransaction", {"id": TXN})["result"]["state"] == 2
    # The same Perform again reads the booking and the payment, and logs the call.
    with django_assert_num_queries(2 + 1 + TRANSACTION):
        assert payme(client, "PerformTransaction", {"id": TXN})["result"]["state"] == 2

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


@pytest.mark.django_db
def test_a_click_complete_takes_a_pinned_number_of_statements(client, booking, django_assert_num_queries):
    prepare_id = click(client, "prepare", click_form(booking.reference, stage="prepare"))["merchant_prepare_id"]
    form = click_form(booking.reference, stage="complete", prepare_id=prepare_id)

    with django_assert_num_queries(paying_statements()):
        assert click(client, "complete", form)["error"] == 0
    with django_assert_num_queries(2 + 1 + TRANSACTION):
        assert click(client, "complete", form)["error"] == -4

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


@pytest.mark.django_db(transaction=True)
def test_a_paying_callback_commits_its_log_with_the_payment(client, booking):
    payme_create(client, booking)

    with CaptureQueriesContext(connection) as queries:
        payme(client, "PerformTransaction", {"id": TXN})

    statements = [query["sql"].strip().split(None, 3)[:3] for query in queries.captured_queries]
    # One transaction, and the log row is its last statement: the money and its record commit together.
    assert statements.count(["COMMIT"]) == 1
    assert statements[-2][:3] == ["INSERT", "INTO", '"bookings_paymentlog"']
    assert statements[-1] == ["COMMIT"]
    log = PaymentLog.objects.get(action="PerformTransaction")
    assert (log.error, log.payment.status) == (None, "paid")


@pytest.mark.django_db
def test_a_call_whose_text_the_database_cannot_store_is_still_performed_and_logged(client, booking):
    """The log row commits with the payment, so it must always be storable: a lone surrogate (valid
    JSON, not UTF-8) is replaced like a NUL byte rather than failing the INSERT and the payment with it."""
    payme_create(client, booking)

    answer = payme(client, "PerformTransaction", {"id": TXN, "note\ud800": "\udfff\x00"})

    assert answer["result"]["state"] == 2
    log = PaymentLog.objects.get(action="PerformTransaction")
    assert log.payment.status == "paid"
    assert log.request["params"] == {"id": TXN, "note?": "?\ufffd"}


@pytest.mark.django_db
def test_a_deeply_nested_call_is_still_answered_and_logged(client, booking):
    payme_create(client, booking)
    nested: list = []
    for _ in range(900):  # within what json.loads takes, beyond what a recursive walk of it can
        nested = [nested]

    answer = payme(client, "PerformTransaction", {"id": TXN, "extra": nested})

    assert answer["result"]["state"] == 2
    log = PaymentLog.objects.get(action="PerformTransaction")
    assert log.payment.status == "paid"
    assert str(log.request).count("[") < 30
