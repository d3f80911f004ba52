"""The writes of one paying callback, compiled once (bookings.services.writes) and by the ORM, on PostgreSQL.

A Payme Perform or Click Complete that pays a booking writes: the payment's paid state
(``save_fields``), its ``payment.received`` history row and the call's PaymentLog row (``insert``),
the booking's payment reminders cancelled (a ``CompiledUpdate``) and three start reminders
(``insert``). This times those five statements as the callbacks make them, and in turns the same
five as the ORM makes them (``save(update_fields=...)``, ``objects.create``, ``update()``,
``bulk_create``), each round in a transaction rolled back, so every round writes the same rows to
the same tables. Printed: CPU and wall time per callback's writes, the median of the rounds, and
the ratio. bench/payment_callbacks.py measures the whole callback under load.

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/callback_writes.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import (
    Target,
    bench_product,
    configure,
    create_students,
    environment,
    fail,
    report,
    scale,
    throwaway_database,
)

ROUNDS = scale(2000, 20)
BLOCK = 50  # rounds of one kind in a row, the two kinds in turns
TARGET_RATIO = 1.5
PAID = ["status", "performed_at", "provider_state", "perform_time"]


class Centre:
    """A pending booking with a Payme transaction started, and what its writes need."""

    def __init__(self) -> None:
        from django.utils import timezone

        from bookings import services
        from bookings.models import Payment, Session

        product = bench_product(price=Decimal("350000"))
        starts = timezone.now() + timedelta(days=7)
        session = Session.objects.create(
            product=product, room="Hall A", starts_at=starts, ends_at=starts + timedelta(hours=3), capacity=30
        )
        [self.student] = create_students(1)
        self.booking = services.book(session=session, student=self.student)
        self.payment = services.start_online_payment(
            self.booking,
            provider="payme",
            amount=self.booking.price,
            provider_txn_id="63a1a8a2b1c2d3e4f5a6b7c8",
            holds_until=timezone.now() + timedelta(hours=12),
            provider_state=1,
            provider_time=1,
            create_time=1,
        )
        self.payment = Payment.objects.get(pk=self.payment.pk)
        self.starts = starts

    def rows(self) -> tuple[Any, Any, list[Any]]:
        """The history row, the log row and the start reminders of one callback, unsaved."""
        from django.utils import timezone

        from bookings.models import BookingEvent, PaymentLog, Reminder

        event = BookingEvent(
            booking=self.booking,
            action="payment.received",
            data={"payment": self.payment.pk, "provider": "payme", "amount": "350000.00"},
            created_at=timezone.now(),
        )
        log = PaymentLog(
            provider="payme",
            action="PerformTransaction",
            payment_id=self.payment.pk,
            booking_reference=self.booking.reference,
            remote_addr="185.234.113.5",
            request={"jsonrpc": "2.0", "id": 7, "method": "PerformTransaction", "params": {"id": "63a1"}},
            response={"jsonrpc": "2.0", "id": 7, "result": {"state": 2, "perform_time": 1, "transaction": "1"}},
            error=None,
        )
        reminders = [
            Reminder(
                booking=self.booking,
                recipient=self.student,
                channel=channel,
                kind=kind,
                scheduled_at=self.starts - offset,
            )
            for kind, offset, channel in (
                ("24h", timedelta(hours=24), "email"),
                ("24h", timedelta(hours=24), "sms"),
                ("1h", timedelta(hours=1), "push"),
            )
        ]
        return event, log, reminders

    def paid(self) -> Any:
        from django.utils import timezone

        payment = self.payment
        payment.status, payment.performed_at = "paid", timezone.now()
        payment.provider_state, payment.perform_time = 2, 1_700_000_000_000
        return payment

    def compiled(self) -> None:
        from bookings.services.reminders import cancel_pending_reminders
        from bookings.services.writes import insert, save_fields

        event, log, reminders = self.rows()
        save_fields(self.paid(), PAID)
        insert([event])
        cancel_pending_reminders([self.booking.pk], kind="payment")
        insert(reminders)
        insert([log])

    def orm(self) -> None:
        from bookings.models import BookingEvent, PaymentLog, Reminder
        from bookings.services.reminders import CANCELLED, _still_to_send

        event, log, reminders = self.rows()
        self.paid().save(update_fields=PAID)
        BookingEvent.objects.create(**_fields(event))
        _still_to_send("payment", booking_id__in=[self.booking.pk]).update(**CANCELLED)
        Reminder.objects.bulk_create(reminders)
        PaymentLog.objects.create(**_fields(log))


def _fields(row: Any) -> dict[str, Any]:
    return {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields if not field.primary_key}


class Rollback(Exception):
    pass


def timed(write: Callable[[], None]) -> tuple[float, float]:
    """One round: the writes in a transaction, rolled back; (CPU, wall) seconds."""
    from django.db import transaction

    cpu, wall = time.process_time(), time.perf_counter()
    try:
        with transaction.atomic():
            write()
            raise Rollback
    except Rollback:
        pass
    return time.process_time() - cpu, time.perf_counter() - wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds of each kind")
    rounds = parser.parse_args(argv).rounds

    configure("callback_writes")
    with throwaway_database():
        from bookings.models import BookingEvent, PaymentLog, Reminder

        env = environment()
        centre = Centre()
        before = (BookingEvent.objects.count(), PaymentLog.objects.count(), Reminder.objects.count())
        for write in (centre.compiled, centre.orm):  # warm up: compile, prepare the statements
            for _ in range(10):
                timed(write)
        times: dict[str, list[tuple[float, float]]] = {"compiled": [], "orm": []}
        print(f"bench: {rounds:,} rounds of each, in turns of {BLOCK} ...", flush=True)
        while len(times["orm"]) < rounds:
            for name, write in (("compiled", centre.compiled), ("orm", centre.orm)):
                times[name] += [timed(write) for _ in range(min(BLOCK, rounds - len(times[name])))]
        after = (BookingEvent.objects.count(), PaymentLog.objects.count(), Reminder.objects.count())
        if after != before:
            fail(f"rows left behind by rolled-back rounds: {before} -> {after}")

    def median(name: str, part: int) -> float:
        return statistics.median(sample[part] for sample in times[name]) * 1000

    cpu = {name: median(name, 0) for name in times}
    wall = {name: median(name, 1) for name in times}
    ratio = cpu["orm"] / cpu["compiled"]
    rows = [
        *env,
        ("writes", "payment paid, history row, payment reminders cancelled, 3 start reminders, log row: 5 statements"),
        ("compiled (bookings.services.writes)", f"CPU {cpu['compiled']:.3f} ms, wall {wall['compiled']:.3f} ms"),
        ("ORM (baseline)", f"CPU {cpu['orm']:.3f} ms, wall {wall['orm']:.3f} ms"),
        ("ratio (CPU)", f"{ratio:.2f}×  ({cpu['orm'] - cpu['compiled']:.3f} ms less a callback)"),
        ("rounds", f"{rounds:,} of each, medians; each in a transaction rolled back"),
    ]
    report(
        f"callback_writes — one paying callback's writes, {rounds:,} rounds",
        rows,
        [Target(f"compiled ≥ {TARGET_RATIO}× the ORM's CPU: {ratio:.2f}×", ratio >= TARGET_RATIO)],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
