"""Bookings list page on PostgreSQL with 1,000 and with 1,000,000 bookings, against a naive ModelAdmin.

Renders the first page of the unfiltered list, ``GET /admin/bookings/booking/``, through the test
client (middleware, the admin view, unfold's templates): the real ``BookingAdmin`` as registered
when the bench runs, and in the same run a naive unfold ``ModelAdmin`` with the same columns whose
related columns are plain callables (a query per row for every related ``__str__``) and which
counts the whole table twice per load (``show_full_result_count``). The naive admin sits on an
``UnfoldAdminSite`` of its own, at ``/naive/``, holding every other admin as registered, so both
pages carry the same sidebar and chrome. As a reference (no target) a third admin names the
foreign keys as fields, so Django adds its automatic ``select_related()``.

Data: ~20,000 sessions over two years (past ones completed / no-show / cancelled, coming ones
pending / confirmed / cancelled), 50,000 students; 1,000 bookings spread over all sessions, then
999,000 more (50 per session), a paid payment for every booking ever confirmed; ANALYZEd. Per
page: the median of N warm runs after 2 warm-ups, the query count and the slowest query (a
separate run with the queries captured).

Targets (issue 3): at 1M rows at least 3x faster than the naive list; the same number of queries
at 1k and at 1M rows; the 1M-row page within 1.3x of the 1k-row page.

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/admin_changelist.py
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import (
    Target,
    configure,
    create_students,
    environment,
    fail,
    profiled,
    report,
    scale,
    settle,
    throwaway_database,
)

SESSIONS = scale(20_000, 200)
STUDENTS = scale(50_000, 500)
TUTORS = 12
SMALL = scale(1_000, 100)
LARGE = scale(1_000_000, 2_000)
RUNS = scale(11, 1)
WARMUPS = 2
TARGET_VS_NAIVE = 3.0
TARGET_GROWTH = 1.3
HISTORY_DAYS = 700  # sessions run from ~700 days ago to ~30 days ahead
AHEAD_DAYS = 30
CAPACITY = 80  # at most 50 bookings per session: every one may hold a seat

# code, name, kind, minutes, price, scoring. The written mock sits in a hall without a tutor; the rest have one.
PRODUCTS = (
    ("IELTS-MOCK", "IELTS mock", "exam", 180, "350000", "ielts_band"),
    ("SPEAKING-MOCK", "IELTS speaking mock", "exam", 30, "120000", "ielts_band"),
    ("GE-GROUP", "General English group", "lesson", 90, "90000", "none"),
    ("WRITING-CLINIC", "Writing clinic", "lesson", 60, "150000", "raw"),
)
SEEDED = ("bookings_booking", "bookings_payment")
TABLES = (*SEEDED, "bookings_session", "backoffice_user")
URLCONF = "bench_admin_changelist_urls"
REAL_URL = "/admin/bookings/booking/"
NAIVE_URL = "/naive/bookings/booking/"
NAIVE_FK_URL = "/naive-fk/bookings/booking/"
REFERENCE = re.compile(r"\bB\d{7}\b")

# Booking k (0 <= k < 1M) goes to session (k mod S) * 7919 mod S (a permutation: the first 1,000 are
# spread over the whole two years), as its session's j-th booking, j = k div S; its student,
# (s * 7919 + j * 104729) mod students, differs for every j of a session (104729 is prime to 50,000).
# Past sessions' bookings are completed (75%), no-show (5%) or cancelled; coming ones pending (25%),
# confirmed (60%) or cancelled. A booking is made 1 hour to 45 days before its session, pending ones
# within the last 20 hours; rows go in in creation order, as they do in life.
SEED_BOOKINGS = """
WITH slot AS (
    SELECT k, mod(mod(k, %(sessions)s) * 7919, %(sessions)s) AS s, k / %(sessions)s AS j,
           mod(k * 2654435761, 100) AS h
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint - 1) k
), sess AS (
    SELECT s.id, s.starts_at, p.price, row_number() OVER (ORDER BY s.starts_at, s.id) - 1 AS rn
    FROM bookings_session s JOIN bookings_product p ON p.id = s.product_id
), stud AS (
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS rn FROM backoffice_user WHERE role = 'student'
), b AS (
    SELECT slot.k, slot.h, sess.id AS session_id, sess.price, stud.id AS student_id,
           CASE WHEN sess.starts_at < %(now)s
                THEN CASE WHEN slot.h < 75 THEN 'completed' WHEN slot.h < 80 THEN 'no_show' ELSE 'cancelled' END
                ELSE CASE WHEN slot.h < 25 THEN 'pending' WHEN slot.h < 85 THEN 'confirmed' ELSE 'cancelled' END
           END AS status,
           sess.starts_at - make_interval(mins => 60 + mod(slot.k * 7919, 64800)::int) AS made
    FROM slot
    JOIN sess ON sess.rn = slot.s
    JOIN stud ON stud.rn = mod(slot.s * 7919 + slot.j * 104729, %(students)s)
), c AS (
    SELECT b.*,
           CASE WHEN status = 'pending' THEN %(now)s - make_interval(mins => 1 + mod(k, 1200)::int)
                ELSE least(made, %(now)s - make_interval(mins => 1 + mod(k, 4320)::int)) END AS created
    FROM b
), d AS (
    SELECT c.*,
           CASE WHEN status IN ('confirmed', 'completed', 'no_show')
                THEN least(created + interval '2 hours', %(now)s) END AS confirmed,
           CASE WHEN status = 'cancelled' THEN least(created + interval '1 day', %(now)s) END AS cancelled
    FROM c
)
INSERT INTO bookings_booking (
    reference, student_id, session_id, status, cancel_reason, payment_method, price, currency, expires_at,
    has_result, needs_refund, source, created_at, updated_at, confirmed_at, cancelled_at
)
SELECT 'B' || lpad(k::text, 7, '0'), student_id, session_id, status,
       CASE WHEN status = 'cancelled' THEN (ARRAY['student', 'staff', 'expired', 'tutor'])[mod(h, 4) + 1] ELSE '' END,
       (ARRAY['cash', 'click', 'payme'])[mod(k, 3) + 1], price, 'UZS', created + interval '24 hours',
       status = 'completed' AND mod(h, 3) > 0, false,
       (ARRAY['admin', 'admin', 'admin', 'admin', 'admin', 'api', 'api', 'import'])[mod(k, 8) + 1],
       created, greatest(created, confirmed, cancelled), confirmed, cancelled
FROM d
ORDER BY created, k
"""

# A booking that was confirmed was paid in full, by its payment method, when it was confirmed.
SEED_PAYMENTS = """
INSERT INTO bookings_payment (
    booking_id, provider, amount, currency, status, click_paydoc_id, provider_account, performed_at, created_at
)
SELECT id, payment_method, price, currency, 'paid', '', CASE WHEN payment_method = 'cash' THEN '' ELSE reference END,
    confirmed_at, confirmed_at
FROM bookings_booking
WHERE reference >= %(first)s AND status IN ('confirmed', 'completed', 'no_show')
ORDER BY confirmed_at, id
"""

# Indexes that back no constraint (the primary key and the unique reference stay in place).
SECONDARY_INDEXES = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.indexname))::regclass)
"""

RECOUNT_SEATS = """
UPDATE bookings_session s SET seats_taken = c.n
FROM (
    SELECT session_id, count(*) AS n FROM bookings_booking WHERE status IN ('pending', 'confirmed') GROUP BY session_id
) c
WHERE s.id = c.session_id
"""


# --- Data ----------------------------------------------------------------------------------------


def seed_catalogue(now: datetime) -> Any:
    """Four products, twelve tutors, 20,000 sessions, 50,000 students; returns the superuser."""
    from backoffice.models import Role, User
    from bookings.models import Product, Session, SessionSource, SessionStatus, Tutor

    products = Product.objects.bulk_create(
        Product(
            code=code,
            name=name,
            kind=kind,
            duration_minutes=minutes,
            price=Decimal(price),
            default_capacity=CAPACITY,
            scoring=scoring,
        )
        for code, name, kind, minutes, price, scoring in PRODUCTS
    )
    tutor_users = User.objects.bulk_create(
        User(username=f"bench-tutor-{n}", first_name="Tutor", last_name=f"No. {n}", role=Role.TUTOR, password="!")
        for n in range(TUTORS)
    )
    tutors = Tutor.objects.bulk_create(Tutor(user=user) for user in tutor_users)
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=HISTORY_DAYS)
    step = timedelta(days=HISTORY_DAYS + AHEAD_DAYS) / SESSIONS
    sessions = []
    for n in range(SESSIONS):
        product = products[n % len(products)]
        starts_at = first + step * n
        sessions.append(
            Session(
                product=product,
                # A tutored session's label names its tutor: two more related objects per row.
                tutor=tutors[n % TUTORS] if n % len(products) else None,
                room=f"Room {n % 6 + 1}",
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=product.duration_minutes),
                capacity=CAPACITY,
                status=SessionStatus.CLOSED if starts_at < now else SessionStatus.OPEN,
                source=SessionSource.IMPORT,
            )
        )
    Session.objects.bulk_create(sessions, batch_size=2000)
    create_students(STUDENTS)
    return User.objects.create_superuser("bench-admin", "bench-admin@example.com", None, role=Role.MANAGER)


def add_bookings(start: int, stop: int, now: datetime) -> float:
    """Insert bookings ``start`` .. ``stop - 1`` and their payments, recount seats, VACUUM ANALYZE; return the seconds.

    The secondary indexes are dropped for the load and rebuilt from their own definitions after it
    (one sort each instead of a million inserts each), and the foreign-key triggers are skipped:
    every id comes from a join on the table it refers to. CHECK constraints still hold each row,
    and rebuilding the unique indexes checks uniqueness again.
    """
    from django.db import DatabaseError, connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        try:
            with transaction.atomic():
                cursor.execute("SET LOCAL session_replication_role = replica")  # superuser only
        except DatabaseError:
            pass  # not a superuser: the triggers run, the load is only slower
        cursor.execute(SECONDARY_INDEXES, [list(SEEDED)])
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        cursor.execute(
            SEED_BOOKINGS, {"start": start, "stop": stop, "now": now, "sessions": SESSIONS, "students": STUDENTS}
        )
        if cursor.rowcount != stop - start:
            fail(f"seeded {cursor.rowcount} bookings, expected {stop - start}")
        cursor.execute(SEED_PAYMENTS, {"first": f"B{start:07d}"})
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute(RECOUNT_SEATS)
    settle(*TABLES)
    return time.perf_counter() - started


def describe_data() -> str:
    from django.db.models import Count, Max, Min

    from bookings.models import Booking, Payment

    span = Booking.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    statuses = dict(Booking.objects.values_list("status").annotate(n=Count("id")).order_by())
    total = sum(statuses.values())
    mix = ", ".join(f"{status} {n / total:.0%}" for status, n in sorted(statuses.items(), key=lambda item: -item[1]))
    payments = Payment.objects.count()
    return f"{total:,} bookings made {span['first']:%Y-%m-%d} .. {span['last']:%Y-%m-%d}: {mix}; {payments:,} payments"


# --- The admins ----------------------------------------------------------------------------------


def naive_admin_class(*, by_name: bool) -> type:
    """An unfold ModelAdmin showing BookingAdmin's columns, written the obvious way, and nothing else.

    ``by_name=False`` is the naive list of the issue: student and session are plain callables, so
    each row reads its student, session, product, tutor and tutor's user one query at a time, and
    its payments with one more. ``by_name=True`` names the two foreign keys instead, which makes
    Django join the non-null ones itself (``select_related()``).
    """
    from django.contrib import admin
    from unfold.admin import ModelAdmin

    from bookings.services import paid_total

    @admin.display(description="Student")
    def student(booking: Any) -> str:
        return f"{booking.student} {booking.student.phone or booking.student.email}"

    @admin.display(description="Session")
    def session(booking: Any) -> Any:
        return booking.session

    @admin.display(description="Payment")
    def payment(booking: Any) -> str:
        paid = paid_total(booking)
        if booking.needs_refund:
            state = "refund due"
        elif booking.price <= 0:
            state = "free"
        else:
            state = "paid" if paid >= booking.price else "part-paid" if paid > 0 else "unpaid"
        return f"{booking.get_payment_method_display()} · {state}"

    @admin.display(description="Time left")
    def time_left(booking: Any) -> str:
        return booking.time_left_display

    columns = ("student", "session") if by_name else (student, session)
    return type(
        "NaiveBookingAdmin",
        (ModelAdmin,),
        {
            "__module__": __name__,
            "list_display": ("reference", *columns, "status", payment, time_left, "has_result", "created_at"),
        },
    )


def build_site(name: str, booking_admin: type) -> Any:
    """An UnfoldAdminSite holding every registered admin as it is, but ``booking_admin`` for bookings."""
    from django.contrib import admin
    from unfold.sites import UnfoldAdminSite

    from bookings.models import Booking

    site = UnfoldAdminSite(name=name)
    for model, model_admin in admin.site._registry.items():
        site.register(model, booking_admin if model is Booking else type(model_admin))
    return site


def install_urls(sites: dict[str, Any]) -> None:
    """Serve the project's URLs plus each extra site under its own prefix."""
    from django.conf import settings
    from django.urls import clear_url_caches, path

    import backoffice.urls

    module = ModuleType(URLCONF)
    module.urlpatterns = [
        *(path(f"{prefix}/", site.urls) for prefix, site in sites.items()),
        *backoffice.urls.urlpatterns,
    ]
    sys.modules[URLCONF] = module
    settings.ROOT_URLCONF = URLCONF
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    clear_url_caches()


# --- Measuring -----------------------------------------------------------------------------------


@dataclass
class Query:
    sql: str
    seconds: float


@dataclass
class Measured:
    label: str
    rows: int
    seconds: list[float]
    cpu: list[float]  # this process only: Python and templates, less disturbed by a busy machine than wall time
    queries: list[Query]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def sql_seconds(self) -> float:
        return sum(query.seconds for query in self.queries)

    def slowest(self, count: int = 1) -> list[Query]:
        return sorted(self.queries, key=lambda query: -query.seconds)[:count]

    def line(self) -> str:
        slowest = self.slowest()[0]
        return (
            f"{self.median * 1000:7.1f} ms median (min {min(self.seconds) * 1000:.1f}), "
            f"Python CPU {statistics.median(self.cpu) * 1000:.1f} ms, {len(self.queries):3d} queries, "
            f"SQL {self.sql_seconds * 1000:.1f} ms; slowest {slowest.seconds * 1000:.1f} ms: {shorten(slowest.sql)}"
        )


def shorten(sql: str, width: int = 90) -> str:
    sql = " ".join(sql.split())
    return sql if len(sql) <= width else sql[: width - 3] + "..."


def get_page(client: Any, url: str) -> str:
    response = client.get(url)
    if response.status_code != 200:
        fail(f"GET {url} answered {response.status_code}")
    return response.content.decode()


@contextmanager
def timed_queries() -> Iterator[list[Query]]:
    """Every statement on the default connection with its own wall time (Django's log rounds to 1 ms)."""
    from django.db import connection

    log: list[Query] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            log.append(Query(sql, time.perf_counter() - started))

    with connection.execute_wrapper(wrapper):
        yield log


def measure(client: Any, pages: dict[str, str], *, rows: int, runs: int) -> dict[str, Measured]:
    """Warm each page up, then time them interleaved (so drift on the machine hits all alike), then count queries."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bookings.models import Booking

    newest = Booking.objects.order_by("-created_at", "-id").values_list("reference", flat=True).first()
    for _ in range(WARMUPS):
        for label, url in pages.items():
            html = get_page(client, url)
            listed = set(REFERENCE.findall(html))
            if newest not in listed or len(listed) != min(rows, 100):
                fail(f"{label}: the first page lists {len(listed)} bookings, newest {newest} shown: {newest in listed}")
    seconds: dict[str, list[float]] = {label: [] for label in pages}
    cpu: dict[str, list[float]] = {label: [] for label in pages}
    for _ in range(runs):
        for label, url in pages.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            get_page(client, url)
            seconds[label].append(time.perf_counter() - started)
            cpu[label].append(time.process_time() - cpu_started)
    results = {}
    for label, url in pages.items():
        # The sidebar's badge counts are cached for 30 s: fill the cache just before, so that every
        # captured load is the steady-state page (the timed loads above pay the badges as they fall due).
        cache.clear()
        get_page(client, url)
        with CaptureQueriesContext(connection) as captured, timed_queries() as log:
            get_page(client, url)
        if len(captured) != len(log):
            fail(f"{label}: {len(captured)} queries captured but {len(log)} timed")
        results[label] = Measured(label, rows, seconds[label], cpu[label], log)
    return results


def profile(client: Any, url: str, requests: int = 5) -> str:
    """cProfile of ``requests`` loads of ``url``: where the Python time of the page goes."""
    return profiled(lambda: get_page(client, url), requests, only=r"/(bookings|backoffice)/|template")


# --- Run -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="timed loads of each page (median reported)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the real list at 1M rows")
    args = parser.parse_args(argv)

    configure("admin_changelist")
    # whitenoise warns once that collectstatic has not run; the pages are served all the same.
    warnings.filterwarnings("ignore", message="No directory at")
    with throwaway_database():
        from django.contrib import admin
        from django.test import Client
        from django.utils import timezone

        from bookings.models import Booking

        env = environment()
        real = type(admin.site._registry[Booking])
        install_urls(
            {
                "naive": build_site("naive", naive_admin_class(by_name=False)),
                "naive-fk": build_site("naive-fk", naive_admin_class(by_name=True)),
            }
        )
        now = timezone.now()
        started = time.perf_counter()
        superuser = seed_catalogue(now)
        print(f"catalogue: {SESSIONS:,} sessions, {STUDENTS:,} students in {time.perf_counter() - started:.1f} s")
        client = Client()
        client.force_login(superuser)
        pages = {"real": REAL_URL, "naive": NAIVE_URL}
        load = [os.getloadavg()[0]]

        seconds = add_bookings(0, SMALL, now)
        small_data = describe_data()
        print(f"{SMALL:,} bookings in {seconds:.1f} s; timing the lists ({args.runs} runs) ...", flush=True)
        small = measure(client, pages, rows=SMALL, runs=args.runs)

        print(f"adding {LARGE - SMALL:,} bookings ...", flush=True)
        seconds = add_bookings(SMALL, LARGE, now)
        large_data = describe_data()
        print(f"done in {seconds:.1f} s; timing the lists ({args.runs} runs) ...", flush=True)
        load.append(os.getloadavg()[0])
        large = measure(client, {**pages, "naive-fk": NAIVE_FK_URL}, rows=LARGE, runs=args.runs)
        load.append(os.getloadavg()[0])
        profiled = profile(client, REAL_URL) if args.profile else ""

    vs_naive = large["naive"].median / large["real"].median
    growth = large["real"].median / small["real"].median
    real_queries = (len(small["real"].queries), len(large["real"].queries))
    rows = [
        *env,
        ("load average", " -> ".join(f"{value:.1f}" for value in load) + f" on {os.cpu_count()} CPUs (1 minute)"),
        ("real admin", f"{real.__module__}.{real.__qualname__} (as registered now)"),
        ("naive admin", "unfold ModelAdmin, same columns, related ones as callables, show_full_result_count"),
        ("data 1k", small_data),
        ("data 1M", large_data),
        (
            "page",
            f"GET <site>/bookings/booking/ as a superuser, first page; median of {args.runs} after {WARMUPS} warm-ups",
        ),
        ("real, 1k", small["real"].line()),
        ("real, 1M", large["real"].line()),
        ("naive, 1k", small["naive"].line()),
        ("naive, 1M", large["naive"].line()),
        ("naive FK by name, 1M (ref.)", large["naive-fk"].line()),
        *(
            (f"real 1M: query #{n}", f"{query.seconds * 1000:6.1f} ms  {shorten(query.sql, 110)}")
            for n, query in enumerate(large["real"].slowest(4), 1)
        ),
        ("naive 1M / real 1M", f"{vs_naive:.2f}x"),
        ("real 1M / real 1k", f"{growth:.2f}x"),
        ("naive 1M / naive 1k", f"{large['naive'].median / small['naive'].median:.2f}x"),
    ]
    report(
        "admin_changelist — bookings list, 1k vs 1M rows, real vs naive admin",
        rows,
        [
            Target(
                f"real ≥ {TARGET_VS_NAIVE:.0f}x faster than naive at 1M rows: {vs_naive:.2f}x",
                vs_naive >= TARGET_VS_NAIVE,
            ),
            Target(
                f"constant query count, real 1k vs 1M: {real_queries[0]} vs {real_queries[1]}",
                real_queries[0] == real_queries[1],
            ),
            Target(f"real 1M page ≤ {TARGET_GROWTH}x the 1k page: {growth:.2f}x", growth <= TARGET_GROWTH),
        ],
    )
    if profiled:
        print(profiled)
    return 0


if __name__ == "__main__":
    sys.exit(main())
