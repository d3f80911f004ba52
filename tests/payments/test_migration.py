"""The payment migrations keep the money right on existing rows: 0005 records a payment refunded before
as refunded whole; 0008 moves the payments of rescheduled bookings to the booking now holding the seat."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("bookings", "0004_imports")]
AFTER = [("bookings", "0005_online_payments")]


def migrate(targets):
    """Migrate to ``targets``; the other apps stay at their latest migration (their tables as they are
    now, so the models of the returned state can write to them)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    apps_moved = {app for app, _ in targets}
    targets = [node for node in executor.loader.graph.leaf_nodes() if node[0] not in apps_moved] + list(targets)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_it_records_existing_refunds_as_whole():
    apps = migrate(BEFORE)
    try:
        user = apps.get_model("backoffice", "User").objects.create(username="old-student", email="s@example.com")
        product = apps.get_model("bookings", "Product").objects.create(code="OLD", name="Old", price=Decimal("100"))
        starts = timezone.now() + timedelta(days=1)
        session = apps.get_model("bookings", "Session").objects.create(
            product=product, starts_at=starts, ends_at=starts + timedelta(hours=1), capacity=1
        )
        booking = apps.get_model("bookings", "Booking").objects.create(
            reference="OLD1234",
            student=user,
            session=session,
            price=Decimal("100"),
            status="cancelled",
            cancel_reason="staff",
        )
        Payment = apps.get_model("bookings", "Payment")
        refunded = Payment.objects.create(booking=booking, provider="cash", amount=Decimal("100"), status="refunded")
        paid = Payment.objects.create(booking=booking, provider="cash", amount=Decimal("40"), status="paid")

        Payment = migrate(AFTER).get_model("bookings", "Payment")

        assert Payment.objects.get(pk=refunded.pk).refunded_amount == Decimal("100")
        assert Payment.objects.get(pk=paid.pk).refunded_amount == Decimal("0")
    finally:
        executor = MigrationExecutor(connection)
        migrate(executor.loader.graph.leaf_nodes())


MOVE = ("bookings", "0008_move_rescheduled_payments")


def test_it_moves_the_payments_of_rescheduled_bookings_to_the_live_booking_and_back():
    executor = MigrationExecutor(connection)
    before = executor.loader.get_migration(*MOVE).dependencies  # whatever number it follows
    apps = migrate(before)
    try:
        Booking = apps.get_model("bookings", "Booking")
        Payment = apps.get_model("bookings", "Payment")
        user = apps.get_model("backoffice", "User").objects.create(username="mover", email="m@example.com")
        product = apps.get_model("bookings", "Product").objects.create(code="MOV", name="Mock", price=Decimal("350000"))
        starts = timezone.now() + timedelta(days=3)

        def booking(reference: str, *, status: str, moved_from=None, **fields):
            session = apps.get_model("bookings", "Session").objects.create(
                product=product, starts_at=starts, ends_at=starts + timedelta(hours=3), capacity=5
            )
            return Booking.objects.create(
                reference=reference,
                student=user,
                session=session,
                price=Decimal("350000"),
                status=status,
                cancel_reason="rescheduled" if status == "cancelled" else "",
                rescheduled_from=moved_from,
                **fields,
            )

        def payment(on, amount: str, *, at, status: str = "paid", **fields):
            return Payment.objects.create(
                booking=on, provider="cash", amount=Decimal(amount), status=status, created_at=at, **fields
            )

        t0 = timezone.now() - timedelta(days=2)
        first = booking("MOVE001", status="cancelled", cancelled_at=t0 + timedelta(hours=1), needs_refund=True)
        second = booking("MOVE002", status="cancelled", cancelled_at=t0 + timedelta(hours=2), moved_from=first)
        booking("MOVE003", status="confirmed", moved_from=second)
        paid = payment(first, "300000", at=t0, status="refunded", refunded_amount=Decimal("50000"))
        cash = payment(first, "100000", at=t0 + timedelta(minutes=5))
        late = payment(first, "350000", at=t0 + timedelta(hours=5))  # after it was moved: kept, flagged
        attempt = Payment.objects.create(
            booking=second, provider="click", amount=Decimal("1000"), status="pending", provider_txn_id="7001"
        )
        Payment.objects.filter(pk=attempt.pk).update(created_at=t0 + timedelta(hours=1, minutes=30))
        other = booking("KEEP001", status="confirmed")
        untouched = payment(other, "350000", at=t0)

        apps = migrate([MOVE])

        on = dict(apps.get_model("bookings", "Payment").objects.values_list("pk", "booking__reference"))
        assert on == {
            paid.pk: "MOVE003",
            cash.pk: "MOVE003",
            attempt.pk: "MOVE003",
            late.pk: "MOVE001",
            untouched.pk: "KEEP001",
        }
        events = apps.get_model("bookings", "BookingEvent").objects.filter(action="payment.moved")
        moved = [(event.booking.reference, event.data) for event in events.order_by("booking__reference", "pk")]
        by_cash = {"payments": [paid.pk, cash.pk], "amount": "350000.00", "migration": True}  # 250,000 + 100,000
        by_click = {"payments": [attempt.pk], "amount": "0.00", "migration": True}  # pending: no money yet
        assert moved == [
            ("MOVE001", {**by_cash, "to": "MOVE003"}),
            ("MOVE002", {**by_click, "to": "MOVE003"}),
            ("MOVE003", {**by_cash, "from": "MOVE001"}),
            ("MOVE003", {**by_click, "from": "MOVE002"}),
        ]

        apps = migrate(before)  # and back: every payment where it was, the history rows gone

        Payment = apps.get_model("bookings", "Payment")
        assert dict(Payment.objects.values_list("pk", "booking_id")) == {
            paid.pk: first.pk,
            cash.pk: first.pk,
            attempt.pk: second.pk,
            late.pk: first.pk,
            untouched.pk: other.pk,
        }
        assert not apps.get_model("bookings", "BookingEvent").objects.filter(action="payment.moved").exists()
    finally:
        executor = MigrationExecutor(connection)
        migrate(executor.loader.graph.leaf_nodes())


ACCOUNT = ("bookings", "0009_payment_provider_account")


def test_it_gives_each_online_attempt_the_reference_it_was_started_with():
    executor = MigrationExecutor(connection)
    before = executor.loader.get_migration(*ACCOUNT).dependencies
    apps = migrate(before)
    try:
        Booking = apps.get_model("bookings", "Booking")
        Payment = apps.get_model("bookings", "Payment")
        BookingEvent = apps.get_model("bookings", "BookingEvent")
        user = apps.get_model("backoffice", "User").objects.create(username="payer", email="p@example.com")
        product = apps.get_model("bookings", "Product").objects.create(code="ACC", name="Mock", price=Decimal("1000"))
        starts = timezone.now() + timedelta(days=3)

        def booking(reference: str, status: str, **fields):
            session = apps.get_model("bookings", "Session").objects.create(
                product=product, starts_at=starts, ends_at=starts + timedelta(hours=3), capacity=5
            )
            return Booking.objects.create(
                reference=reference, student=user, session=session, price=Decimal("1000"), status=status, **fields
            )

        old = booking("ACC0001", "cancelled", cancel_reason="rescheduled")
        new = booking("ACC0002", "confirmed", rescheduled_from=old)
        # Started for ACC0001, then moved with its money to ACC0002 by a reschedule.
        moved = Payment.objects.create(
            booking=new, provider="payme", amount=Decimal("1000"), status="paid", provider_txn_id="p-1"
        )
        here = Payment.objects.create(
            booking=new, provider="click", amount=Decimal("1000"), status="pending", provider_txn_id="7001"
        )
        cash = Payment.objects.create(booking=new, provider="cash", amount=Decimal("1000"), status="paid")
        BookingEvent.objects.create(booking=old, action="payment.started", data={"payment": moved.pk})
        BookingEvent.objects.create(booking=new, action="payment.started", data={"payment": here.pk})
        BookingEvent.objects.create(booking=new, action="payment.received", data={"payment": cash.pk})

        Payment = migrate([ACCOUNT]).get_model("bookings", "Payment")

        assert dict(Payment.objects.values_list("pk", "provider_account")) == {
            moved.pk: "ACC0001",
            here.pk: "ACC0002",
            cash.pk: "",
        }
    finally:
        executor = MigrationExecutor(connection)
        migrate(executor.loader.graph.leaf_nodes())
