"""Money in flight keeps its seat: the expiry sweep leaves a booking with an open Payme transaction or a
prepared Click payment alone until the provider's own limit (Payme: its time + 12 h; Click: Prepare +
1 h), on SQLite and PostgreSQL alike (the portable sweep and the one-statement one share the predicate)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingStatus, CancelReason, Session
from bookings.payments.core import to_ms
from tests.factories import SessionFactory, StudentFactory
from tests.payments.protocol import click, click_form, payme

pytestmark = pytest.mark.django_db


def status(booking) -> str:
    return Booking.objects.get(pk=booking.pk).status


def test_an_open_payme_transaction_keeps_the_booking_until_12_hours_after_paymes_time(client, booking):
    deadline = booking.expires_at
    with time_machine.travel(deadline - timedelta(minutes=10), tick=False):
        payme_time = to_ms(timezone.now()) - 60_000  # Payme created it a minute before calling us
        params = {"id": "h" * 24, "time": payme_time, "amount": 35_000_000, "account": {"booking": booking.reference}}
        assert payme(client, "CreateTransaction", params)["result"]["state"] == 1

    with time_machine.travel(deadline + timedelta(hours=11), tick=False):
        assert services.expire_due() == 0
        assert status(booking) == BookingStatus.PENDING
    with time_machine.travel(deadline - timedelta(minutes=11) + timedelta(hours=12, seconds=1), tick=False):
        assert services.expire_due() == 1
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.EXPIRED)
    assert Session.objects.get(pk=booking.session_id).seats_taken == 0


def test_a_prepared_click_payment_keeps_the_booking_for_an_hour(client, booking):
    deadline = booking.expires_at
    with time_machine.travel(deadline - timedelta(minutes=1), tick=False):
        assert click(client, "prepare", click_form(booking.reference, stage="prepare"))["error"] == 0
    with time_machine.travel(deadline + timedelta(minutes=58), tick=False):
        assert services.expire_due() == 0
    with time_machine.travel(deadline + timedelta(minutes=60), tick=False):
        assert services.expire_due() == 1
    assert status(booking) == BookingStatus.CANCELLED


def test_a_cancelled_transaction_holds_nothing(client, booking):
    with time_machine.travel(booking.expires_at - timedelta(minutes=10), tick=False):
        params = {"id": "c" * 24, "time": to_ms(timezone.now()), "amount": 35_000_000}
        payme(client, "CreateTransaction", {**params, "account": {"booking": booking.reference}})
        payme(client, "CancelTransaction", {"id": "c" * 24, "reason": 3})
    with time_machine.travel(booking.expires_at + timedelta(minutes=1), tick=False):
        assert services.expire_due() == 1  # pending until its own expiry, then expired as usual


def test_a_paid_booking_is_no_longer_pending_and_an_unpaid_neighbour_still_expires(client, booking):
    neighbour = services.book(session=booking.session, student=StudentFactory())
    held = services.book(session=SessionFactory(), student=StudentFactory())
    with time_machine.travel(booking.expires_at - timedelta(minutes=10), tick=False):
        payme(
            client,
            "CreateTransaction",
            {
                "id": "n" * 24,
                "time": to_ms(timezone.now()),
                "amount": 35_000_000,
                "account": {"booking": held.reference},
            },
        )
    with time_machine.travel(max(booking.expires_at, neighbour.expires_at, held.expires_at) + timedelta(minutes=1)):
        assert services.expire_due(batch_size=1) == 2
    assert [status(b) for b in (booking, neighbour, held)] == ["cancelled", "cancelled", "pending"]
    assert Session.objects.get(pk=held.session_id).seats_taken == 1
