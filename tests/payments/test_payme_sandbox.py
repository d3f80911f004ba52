"""The Payme sandbox's two scenarios (test.paycom.uz), step by step, through HTTP.

1. Wrong auth, wrong amount, unknown account; check, create, repeated create, check transaction,
   a second create while the first waits, cancel before perform (and its repeat).
2. Create, perform, repeated perform, check, cancel after perform (and its repeat).
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from bookings import services
from bookings.models import BookingStatus, Payment, PaymentLog, Session
from bookings.payments.core import to_ms
from tests.factories import SessionFactory, StudentFactory
from tests.payments.protocol import error_code, payme

pytestmark = pytest.mark.django_db

PRICE = 35_000_000
METHODS = ["CheckPerformTransaction", "CreateTransaction", "PerformTransaction", "CancelTransaction",
           "CheckTransaction", "GetStatement"]  # fmt: skip


def test_scenario_1_create_and_cancel_an_unperformed_transaction(client, booking):
    ac = {"booking": booking.reference}
    now = to_ms(timezone.now())
    for method in METHODS:  # wrong credentials, every method
        assert (
            error_code(payme(client, method, {"id": "a" * 24, "amount": PRICE, "account": ac}, key="wrong")) == -32504
        )
    for method in ("CheckPerformTransaction", "CreateTransaction"):
        wrong_amount = {"id": "a" * 24, "time": now, "amount": PRICE // 2, "account": ac}
        assert error_code(payme(client, method, wrong_amount)) == -31001
        unknown = payme(client, method, {"id": "a" * 24, "time": now, "amount": PRICE, "account": {"booking": "bbb"}})
        assert (unknown["error"]["code"], unknown["error"]["data"]) == (-31050, "booking")

    assert payme(client, "CheckPerformTransaction", {"amount": PRICE, "account": ac})["result"] == {"allow": True}
    created = payme(client, "CreateTransaction", {"id": "t1" * 12, "time": now, "amount": PRICE, "account": ac})
    assert created["result"]["state"] == 1
    assert payme(client, "CreateTransaction", {"id": "t1" * 12, "time": now, "amount": PRICE, "account": ac}) == created
    checked = payme(client, "CheckTransaction", {"id": "t1" * 12})["result"]
    assert (checked["state"], checked["perform_time"], checked["cancel_time"], checked["reason"]) == (1, 0, 0, None)
    second = payme(client, "CreateTransaction", {"id": "t2" * 12, "time": now, "amount": PRICE, "account": ac})
    assert error_code(second) == -31008

    cancelled = payme(client, "CancelTransaction", {"id": "t1" * 12, "reason": 1})
    assert cancelled["result"]["state"] == -1
    assert payme(client, "CancelTransaction", {"id": "t1" * 12, "reason": 1}) == cancelled
    checked = payme(client, "CheckTransaction", {"id": "t1" * 12})["result"]
    assert (checked["state"], checked["cancel_time"], checked["reason"]) == (-1, cancelled["result"]["cancel_time"], 1)

    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
    assert Session.objects.get(pk=booking.session_id).seats_taken == 1
    assert not Payment.objects.filter(status="paid").exists()


def test_scenario_2_create_perform_and_cancel_a_performed_transaction(client, db):
    booking = services.book(session=SessionFactory(capacity=3), student=StudentFactory())
    ac = {"booking": booking.reference}
    now = to_ms(timezone.now())

    assert payme(client, "CheckPerformTransaction", {"amount": PRICE, "account": ac})["result"] == {"allow": True}
    created = payme(client, "CreateTransaction", {"id": "p" * 24, "time": now, "amount": PRICE, "account": ac})
    assert created["result"]["state"] == 1
    performed = payme(client, "PerformTransaction", {"id": "p" * 24})
    assert performed["result"]["state"] == 2
    assert payme(client, "PerformTransaction", {"id": "p" * 24}) == performed
    checked = payme(client, "CheckTransaction", {"id": "p" * 24})["result"]
    assert (checked["state"], checked["perform_time"], checked["cancel_time"]) == (
        2,
        performed["result"]["perform_time"],
        0,
    )
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED

    refunded = payme(client, "CancelTransaction", {"id": "p" * 24, "reason": 5})
    assert refunded["result"]["state"] == -2
    assert payme(client, "CancelTransaction", {"id": "p" * 24, "reason": 5}) == refunded
    checked = payme(client, "CheckTransaction", {"id": "p" * 24})["result"]
    assert (checked["state"], checked["cancel_time"], checked["reason"]) == (-2, refunded["result"]["cancel_time"], 5)

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert Session.objects.get(pk=booking.session_id).seats_taken == 0
    assert Payment.objects.get().status == "refunded"
    assert PaymentLog.objects.filter(provider="payme").count() == 8
