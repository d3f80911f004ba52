"""Booking race: 64 concurrent clients booking ONE session with ample seats, on PostgreSQL.

Measures bookings/s through ``bookings.services.book()`` (64 threads, each with its own Django
connection, each booking distinct students), then in the same run the machine's raw limit for the
same hot row: the same 64 threads on plain psycopg connections doing, per booking, one
transaction ``UPDATE bookings_session ... WHERE seats_taken < capacity`` + ``INSERT`` a booking.

Targets (issue 2): at least 300 bookings/s through ``book()``, and at least 25% of the raw limit.
Threads contend for the GIL; that is part of the honest figure for one Python process.

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/booking_race.py
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import (
    CpuMeter,
    Target,
    bench_product,
    configure,
    create_students,
    environment,
    fail,
    psycopg_params,
    report,
    scale,
    settle,
    throwaway_database,
)

THREADS = scale(64, 4)
WARMUP_PER_THREAD = scale(5, 1)
MEASURED = scale(4000, 40)
TARGET_PER_SECOND = 300
TARGET_SHARE_OF_RAW = 0.25

TABLES = ("bookings_session", "bookings_booking", "bookings_bookingevent", "backoffice_user")
RAW_UPDATE = "UPDATE bookings_session SET seats_taken = seats_taken + 1 WHERE id = %s AND seats_taken < capacity"
RAW_INSERT = (
    "INSERT INTO bookings_booking (reference, student_id, session_id, status, cancel_reason, payment_method, "
    "price, currency, expires_at, has_result, needs_refund, source, created_at, updated_at) "
    "VALUES (%s, %s, %s, 'pending', '', 'cash', %s, 'UZS', now() + interval '24 hours', false, false, 'admin', "
    "now(), now())"
)


class Tickets:
    """Hands out the measured work one item at a time, so every thread stays busy until the end."""

    def __init__(self, items: Sequence[Any]) -> None:
        self._items = iter(items)
        self._lock = threading.Lock()

    def next(self) -> Any | None:
        with self._lock:
            return next(self._items, None)


class Race:
    """Run ``threads`` workers: a warm-up each, a barrier, then the shared tickets; time the measured part."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.started = 0.0
        self.barrier = threading.Barrier(threads, action=self._start)
        self.finished = [0.0] * threads
        self.errors: list[str] = []
        self._errors_lock = threading.Lock()
        self.cpu = CpuMeter()

    def _start(self) -> None:
        self.cpu.start()
        self.started = time.perf_counter()

    def error(self, text: str) -> None:
        with self._errors_lock:
            self.errors.append(text)

    def run(self, worker: Callable[[int], None]) -> float:
        def target(index: int) -> None:
            try:
                worker(index)
            except threading.BrokenBarrierError:
                pass  # another thread failed before the start; its error is recorded
            except BaseException as exc:
                self.error(f"thread {index}: {type(exc).__name__}: {exc}")
                self.barrier.abort()
            finally:
                self.finished[index] = time.perf_counter()

        workers = [
            threading.Thread(target=target, args=(i,), name=f"client-{i}", daemon=True) for i in range(self.threads)
        ]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        self.cpu.stop()
        return max(self.finished) - self.started


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def seed(*, threads: int, measured: int) -> tuple[Any, Any, Any, list[Any]]:
    """A priced mock exam (bookings stay pending, no tutor), three sessions and enough students."""
    from django.utils import timezone

    from bookings.models import Session

    product = bench_product(default_capacity=30, payment_window_hours=24)
    starts_at = timezone.now().replace(microsecond=0) + timedelta(days=7)
    per_session = threads * WARMUP_PER_THREAD + measured
    ours, raw, probe = Session.objects.bulk_create(
        Session(
            product=product,
            room=room,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=3),
            capacity=per_session + 100,
        )
        for room in ("Hall A", "Hall B", "Hall C")
    )
    students = create_students(per_session + 1)
    return ours, raw, probe, students


def queries_per_booking(session: Any, student: Any) -> list[str]:
    """The statements one ``book()`` sends inside its transaction (BEGIN and COMMIT left out)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bookings.services import book

    with CaptureQueriesContext(connection) as captured:
        book(session=session, student=student, payment_method="cash")
    return [query["sql"] for query in captured.captured_queries if query["sql"] not in ("BEGIN", "COMMIT")]


def race_book(session_id: int, students: list[Any], *, threads: int) -> tuple[float, Race]:
    from django.db import connection

    from bookings.models import Session
    from bookings.services import book

    warmups = list(chunks(students[: threads * WARMUP_PER_THREAD], WARMUP_PER_THREAD))
    tickets = Tickets(students[threads * WARMUP_PER_THREAD :])
    race = Race(threads)

    def attempt(session: Any, student: Any) -> None:
        try:
            book(session=session, student=student, payment_method="cash")
        except Exception as exc:
            race.error(f"book() for {student.username}: {type(exc).__name__}: {exc}")

    def worker(index: int) -> None:
        try:
            session = Session.objects.get(pk=session_id)
            for student in warmups[index]:
                attempt(session, student)
            race.barrier.wait()
            while (student := tickets.next()) is not None:
                attempt(session, student)
        finally:
            connection.close()

    return race.run(worker), race


def race_raw(session_id: int, student_ids: list[int], *, threads: int, price: Decimal) -> tuple[float, Race]:
    import psycopg

    params = psycopg_params()
    numbered = [(f"R{n:07d}", student_id) for n, student_id in enumerate(student_ids)]
    warmups = list(chunks(numbered[: threads * WARMUP_PER_THREAD], WARMUP_PER_THREAD))
    tickets = Tickets(numbered[threads * WARMUP_PER_THREAD :])
    race = Race(threads)

    def worker(index: int) -> None:
        with psycopg.connect(**params, autocommit=False) as conn, conn.cursor() as cursor:

            def attempt(item: tuple[str, int]) -> None:
                reference, student_id = item
                try:
                    cursor.execute(RAW_UPDATE, (session_id,))
                    if cursor.rowcount != 1:
                        conn.rollback()
                        race.error(f"raw booking {reference}: no seat")
                        return
                    cursor.execute(RAW_INSERT, (reference, student_id, session_id, price))
                    conn.commit()
                except psycopg.Error as exc:
                    conn.rollback()
                    race.error(f"raw booking {reference}: {type(exc).__name__}: {exc}")

            for item in warmups[index]:
                attempt(item)
            race.barrier.wait()
            while (item := tickets.next()) is not None:
                attempt(item)

    return race.run(worker), race


def check_counts(session_id: int, expected: int, label: str) -> None:
    from bookings.models import SEAT_HOLDING, Booking, BookingEvent, Session

    seats_taken = Session.objects.values_list("seats_taken", flat=True).get(pk=session_id)
    active = Booking.objects.filter(session_id=session_id, status__in=SEAT_HOLDING).count()
    if not seats_taken == active == expected:
        fail(f"{label}: seats_taken={seats_taken}, active bookings={active}, expected {expected}")
    if label == "book()":
        events = BookingEvent.objects.filter(booking__session_id=session_id, action="booking.created").count()
        if events != expected:
            fail(f"{label}: {events} booking.created events for {expected} bookings")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--bookings", type=int, default=MEASURED, help="measured bookings per phase")
    args = parser.parse_args(argv)
    threads, measured = args.threads, args.bookings

    configure("booking_race")
    with throwaway_database():
        env = environment()
        ours, raw, probe, students = seed(threads=threads, measured=measured)
        probe_queries = queries_per_booking(probe, students[-1])
        total = threads * WARMUP_PER_THREAD + measured

        settle(*TABLES)
        print(f"book(): {threads} threads, {threads * WARMUP_PER_THREAD} warm-up + {measured} measured ...", flush=True)
        ours_seconds, ours_race = race_book(ours.pk, students[:total], threads=threads)
        if ours_race.errors:
            fail(f"book() raised {len(ours_race.errors)} error(s), first: {ours_race.errors[:3]}")
        check_counts(ours.pk, total, "book()")

        settle(*TABLES)
        print(f"raw SQL: {threads} threads, same work on psycopg ...", flush=True)
        raw_seconds, raw_race = race_raw(
            raw.pk, [s.pk for s in students[:total]], threads=threads, price=ours.product.price
        )
        if raw_race.errors:
            fail(f"raw SQL raised {len(raw_race.errors)} error(s), first: {raw_race.errors[:3]}")
        check_counts(raw.pk, total, "raw SQL")

    ours_rate = measured / ours_seconds
    raw_rate = measured / raw_seconds
    share = ours_rate / raw_rate
    rows = [
        *env,
        ("clients", f"{threads} threads, 1 session, warm-up {WARMUP_PER_THREAD}/thread then {measured} timed"),
        ("book()", f"{ours_rate:,.0f} bookings/s  ({measured:,} in {ours_seconds:.2f} s)"),
        ("raw SQL (baseline)", f"{raw_rate:,.0f} bookings/s  ({measured:,} in {raw_seconds:.2f} s)"),
        ("ratio book()/raw", f"{share:.1%}"),
        ("CPU per booking, book()", ours_race.cpu.per(measured)),
        ("CPU per booking, raw", raw_race.cpu.per(measured)),
        ("SQL per book()", f"{len(probe_queries)} statements between BEGIN and COMMIT"),
        ("check", f"seats_taken == bookings == {total:,} on both sessions, 0 errors"),
    ]
    report(
        f"booking_race — {threads} clients booking one session",
        rows,
        [
            Target(f"book() ≥ {TARGET_PER_SECOND} bookings/s: {ours_rate:,.0f}", ours_rate >= TARGET_PER_SECOND),
            Target(f"book() ≥ {TARGET_SHARE_OF_RAW:.0%} of the raw limit: {share:.1%}", share >= TARGET_SHARE_OF_RAW),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
