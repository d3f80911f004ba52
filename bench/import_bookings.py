"""Bookings import: 50,000 rows of a CSV through ``run_import("bookings", ...)``, on PostgreSQL.

The centre's term: 10,000 students and 1,000 exam sessions exist; the file books each student into
five sessions (50 per session, 50,000 rows, pending, cash), as an export would write it (E.164
phones, local start times). Every phase starts from the same state (the booking tables truncated,
seats recounted, VACUUM ANALYZE) and is checked afterwards (50,000 pending bookings, seats equal to
bookings, one history row each for ours).

- ours: ``run_import`` -- parse, check every row (students, sessions, seats across the file,
  duplicates), then one transaction of bulk INSERTs (bookings, history) and one conditional seat
  UPDATE per 500 sessions; rows/s, then peak Python memory in a second, traced run (tracemalloc
  slows Python down, so it is never timed);
- baseline (a): django-import-export's default ``ModelResource`` for Booking importing row by row
  (``import_data``), run on the first 2,000 rows only -- it is that slow -- and reported as rows/s;
- baseline (b): raw ``Booking.objects.bulk_create`` of the same 50,000 bookings, ids already
  resolved, in batches of 2,000: the floor of writing these rows through the ORM, with no checks.

Targets (issue 6): ours at least 10× baseline (a) and at least 30% of baseline (b).

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/import_bookings.py
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
import tracemalloc
from collections.abc import Callable
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
    environment,
    fail,
    report,
    scale,
    settle,
    throwaway_database,
)

ROWS = scale(50_000, 200)
STUDENTS = scale(10_000, 100)
PER_SESSION = 50
RESOURCE_ROWS = scale(2_000, 50)
BATCH = 2_000
PRICE = Decimal("350000")
TARGET_VS_RESOURCE = 10.0
TARGET_VS_BULK = 0.30
TABLES = ("bookings_booking", "bookings_bookingevent", "bookings_session", "realtime_notification")


def seed(rows: int) -> tuple[bytes, list[tuple[int, int]], Any]:
    """Students and sessions; returns the CSV, the (student id, session id) of each row, the operator."""
    from django.utils import timezone

    from backoffice.models import Role, User
    from bookings.models import Session

    now = timezone.now()
    product = bench_product(price=PRICE, default_capacity=PER_SESSION)
    operator = User.objects.create(
        username="bench-operator", first_name="Bench", last_name="Operator", role=Role.OPERATOR
    )
    students = User.objects.bulk_create(
        (
            User(
                username=f"bench-student-{n}",
                first_name="Student",
                last_name=str(n),
                email=f"student{n}@bench.example",
                phone=f"+99890{n:07d}",
                role=Role.STUDENT,
                password="!",
                date_joined=now,
            )
            for n in range(STUDENTS)
        ),
        batch_size=BATCH,
    )
    first = timezone.localtime(now).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=7)
    session_count = -(-rows // PER_SESSION)
    sessions = Session.objects.bulk_create(
        (
            Session(
                product=product,
                room=f"Room {n % 20 + 1}",
                starts_at=(start := first + timedelta(days=n // 20, minutes=(n % 20) * 3)),
                ends_at=start + timedelta(hours=3),
                capacity=PER_SESSION,
            )
            for n in range(session_count)
        ),
        batch_size=BATCH,
    )
    keys: list[tuple[int, int]] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["student", "product_code", "starts_at", "payment_method", "status"])
    for row in range(rows):
        student, session = students[row % STUDENTS], sessions[row // PER_SESSION]
        keys.append((student.pk, session.pk))
        writer.writerow(
            [student.phone, product.code, f"{timezone.localtime(session.starts_at):%Y-%m-%d %H:%M}", "cash", "pending"]
        )
    return buffer.getvalue().encode("utf-8-sig"), keys, operator


def reset() -> None:
    """No booking, no history, no notification, no seat taken: every phase starts here."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bookings_booking, realtime_notification, bookings_importrecord CASCADE")
        cursor.execute("UPDATE bookings_session SET seats_taken = 0")
    settle(*TABLES)


def check(expected: int, label: str, *, history: bool) -> None:
    from django.db.models import Count, F

    from bookings.models import Booking, BookingEvent, BookingStatus, Session

    pending = Booking.objects.filter(status=BookingStatus.PENDING).count()
    if pending != expected:
        fail(f"{label}: {pending} pending bookings, expected {expected}")
    wrong = Session.objects.annotate(held=Count("bookings")).exclude(seats_taken=F("held")).count() if history else 0
    if wrong:
        fail(f"{label}: {wrong} sessions whose seats_taken differs from their bookings")
    if history and BookingEvent.objects.filter(action="booking.created").count() != expected:
        fail(f"{label}: not one history row per booking")


def ours(data: bytes, operator: Any) -> None:
    from bookings.imports import run_import

    result = run_import("bookings", data, filename="term.csv", actor=operator, dry_run=False)
    if not result.ok or result.counts["new"] != ROWS_DONE[0]:
        fail(f"run_import: {result.summary} {[str(e) for e in result.errors[:5]]}")


ROWS_DONE = [0]


def bulk(keys: list[tuple[int, int]]) -> None:
    """Baseline (b): the same bookings, ids resolved, straight into bulk_create in batches."""
    from django.utils import timezone

    from bookings.models import Booking, BookingStatus
    from bookings.models.bookings import new_reference

    now = timezone.now()
    expires = now + timedelta(hours=24)
    # 50,000 random references clash with a few per cent probability: drawn distinct, as ours are.
    references: set[str] = set()
    while len(references) < len(keys):
        references.add(new_reference())
    unique = iter(references)
    for start in range(0, len(keys), BATCH):
        Booking.objects.bulk_create(
            [
                Booking(
                    reference=next(unique),
                    student_id=student,
                    session_id=session,
                    status=BookingStatus.PENDING,
                    price=PRICE,
                    expires_at=expires,
                    created_at=now,
                )
                for student, session in keys[start : start + BATCH]
            ]
        )


def resource_dataset(keys: list[tuple[int, int]]) -> Any:
    import tablib
    from django.utils import timezone

    expires = f"{timezone.localtime() + timedelta(hours=24):%Y-%m-%d %H:%M:%S}"
    dataset = tablib.Dataset(headers=["id", "student", "session", "status", "payment_method", "price", "expires_at"])
    for student, session in keys:
        dataset.append(["", student, session, "pending", "cash", str(PRICE), expires])
    return dataset


def resource(dataset: Any) -> None:
    """Baseline (a): a default ModelResource for Booking, django-import-export's row-by-row import."""
    from import_export import resources

    from bookings.models import Booking

    class BookingResource(resources.ModelResource):
        class Meta:
            model = Booking

    result = BookingResource().import_data(dataset, dry_run=False, raise_errors=True)
    if result.has_errors() or result.has_validation_errors():
        fail("ModelResource import reported errors")


def timed(work: Callable[[], None]) -> tuple[float, CpuMeter]:
    cpu = CpuMeter()
    with cpu:
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
    return seconds, cpu


def peak(work: Callable[[], None]) -> float:
    """Peak Python memory (MiB) of ``work``, traced by tracemalloc: a separate, untimed run."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--resource-rows", type=int, default=RESOURCE_ROWS)
    parser.add_argument("--profile", action="store_true", help="Also print a cProfile of our import.")
    args = parser.parse_args(argv)
    rows, resource_rows = args.rows, min(args.resource_rows, args.rows)
    ROWS_DONE[0] = rows

    configure("import_bookings")
    with throwaway_database():
        env = environment()
        data, keys, operator = seed(rows)
        size = len(data) / 2**20

        reset()
        print(f"ours: run_import of {rows:,} booking rows ({size:.1f} MiB CSV) ...", flush=True)
        ours_s, ours_cpu = timed(lambda: ours(data, operator))
        check(rows, "run_import", history=True)
        reset()
        ours_mem = peak(lambda: ours(data, operator))
        check(rows, "run_import (traced)", history=True)
        if args.profile:
            import cProfile
            import pstats

            reset()
            profiler = cProfile.Profile()
            profiler.runcall(ours, data, operator)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)

        reset()
        print(f"baseline (b): bulk_create of the same {rows:,} bookings ...", flush=True)
        bulk_s, bulk_cpu = timed(lambda: bulk(keys))
        check(rows, "bulk_create", history=False)
        reset()
        bulk_mem = peak(lambda: bulk(keys))

        reset()
        dataset = resource_dataset(keys[:resource_rows])
        print(f"baseline (a): default ModelResource, {resource_rows:,} rows row by row ...", flush=True)
        resource_s, resource_cpu = timed(lambda: resource(dataset))
        check(resource_rows, "ModelResource", history=False)
        reset()
        resource_mem = peak(lambda: resource(dataset))
        reset()

    ours_rate, bulk_rate, resource_rate = rows / ours_s, rows / bulk_s, resource_rows / resource_s
    vs_resource, vs_bulk = ours_rate / resource_rate, ours_rate / bulk_rate
    report(
        f"import_bookings — {rows:,} booking rows, one process",
        [
            *env,
            ("work", f"{rows:,} rows: {STUDENTS:,} students × 5 sessions, {PER_SESSION} per session, pending, cash"),
            ("ours: run_import", f"{ours_rate:,.0f} rows/s  ({rows:,} in {ours_s:.2f} s), peak {ours_mem:.1f} MiB"),
            (
                "(a) default ModelResource",
                f"{resource_rate:,.0f} rows/s  (measured on {resource_rows:,} rows in {resource_s:.2f} s), "
                f"peak {resource_mem:.1f} MiB for those rows",
            ),
            ("(b) raw bulk_create", f"{bulk_rate:,.0f} rows/s  ({rows:,} in {bulk_s:.2f} s), peak {bulk_mem:.1f} MiB"),
            ("ours / (a)", f"{vs_resource:.1f}×"),
            ("ours / (b)", f"{vs_bulk:.0%}"),
            ("CPU per row, ours", ours_cpu.per(rows)),
            ("CPU per row, (a)", resource_cpu.per(resource_rows)),
            ("CPU per row, (b)", bulk_cpu.per(rows)),
            ("what ours also does", "parses and checks every row, writes a history row per booking, takes the seats"),
        ],
        [
            Target(
                f"ours ≥ {TARGET_VS_RESOURCE:.0f}× the default ModelResource: {vs_resource:.1f}×",
                vs_resource >= TARGET_VS_RESOURCE,
            ),
            Target(f"ours ≥ {TARGET_VS_BULK:.0%} of raw bulk_create: {vs_bulk:.0%}", vs_bulk >= TARGET_VS_BULK),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
