"""Migration 0005 keeps the money right on existing rows: a payment refunded before it was refunded whole."""

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
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
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
