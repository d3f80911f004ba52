"""Dashboard: the admin index with 1,000,000 bookings over 400 days, on PostgreSQL.

Seeds a centre in one ``INSERT ... SELECT generate_series`` per table: 10,000 sessions (25 a day,
365 days back and 35 ahead, 120 seats), 100 bookings each in realistic states (past sessions
completed, missed or cancelled; future ones confirmed, pending or cancelled), a payment for every
paid booking and refunds for some cancelled ones. Then it times, as a logged-in manager through
``django.test.Client``:

- the whole admin index GET, cold (every cache cleared first) and warm (figures cached);
- ``compute_figures()`` alone, against a baseline measured in the same run: the same figures
  computed naively, one query per KPI, per day and per product, and the next sessions without
  ``select_related``. Both must agree, or the run fails.

It also EXPLAINs each dashboard query and names any table it reads with a sequential scan, then
times ``compute_figures()`` again without the ``payment_received`` index (revenue per day; proposed
by this benchmark, now migration 0002), dropped for that run and rebuilt from the model after it.

Targets (issue 3): warm under 200 ms, cold under 1.5 s.

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/dashboard.py
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import (
    Target,
    configure,
    create_students,
    environment,
    fail,
    report,
    scale,
    settle,
    throwaway_database,
)

DAYS_BACK = scale(365, 40)
DAYS_AHEAD = 35
SESSIONS_PER_DAY = scale(25, 4)
PER_SESSION = scale(100, 10)
CAPACITY = 120
STUDENTS = scale(20_000, 200)
TUTORS = 5
RUNS_COLD = scale(7, 1)
RUNS_WARM = scale(30, 1)
TARGET_WARM = 0.200
TARGET_COLD = 1.5

TABLES = ("bookings_session", "bookings_booking", "bookings_payment", "backoffice_user")

# 25 sittings a day from 08:00 local, 20 minutes apart; the first TUTORS slots have a tutor each
# (one tutor per slot, so no tutor has two sessions at once). Past sessions are closed.
SEED_SESSIONS = """
INSERT INTO bookings_session (
    product_id, tutor_id, room, starts_at, ends_at, capacity, seats_taken, status, source, created_at
)
SELECT p.ids[(k %% array_length(p.ids, 1)) + 1],
       CASE WHEN k < %(tutors)s THEN t.ids[k + 1] END,
       'Room ' || (k %% 8 + 1),
       st.starts_at, st.starts_at + interval '3 hours', %(capacity)s, 0,
       CASE WHEN st.starts_at < %(now)s THEN 'closed' ELSE 'open' END,
       'manual', %(now)s
FROM generate_series(-%(back)s, %(ahead)s - 1) d
CROSS JOIN generate_series(0, %(per_day)s - 1) k
CROSS JOIN LATERAL (
    SELECT (%(today)s::timestamp + make_interval(days => d, mins => 480 + k * 20)) AT TIME ZONE %(tz)s AS starts_at
) st
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM bookings_product) p
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM bookings_tutor) t
"""

# PER_SESSION bookings per session, distinct students within a session. A past session's bookings
# were completed (80%), missed (5%) or cancelled; a future one's are confirmed (70%), pending (10%,
# made within the last day, so still inside their 24-hour window) or cancelled. Made 1-20 days
# before the session, never after now.
SEED_BOOKINGS = """
WITH drawn AS (
    SELECT ses.id AS session_id, ses.starts_at, ses.rn * %(per)s + g AS n, random() AS r, random() AS r2
    FROM (SELECT id, starts_at, row_number() OVER (ORDER BY id) - 1 AS rn FROM bookings_session) ses
    CROSS JOIN generate_series(0, %(per)s - 1) g
), b AS (
    SELECT session_id, n, status,
           CASE WHEN status = 'pending' THEN %(now)s - r2 * interval '23 hours'
                ELSE least(starts_at, %(now)s) - interval '1 day' - r2 * interval '19 days' END AS created_at
    FROM (
        SELECT drawn.*,
               CASE WHEN starts_at < %(now)s THEN
                        CASE WHEN r < 0.80 THEN 'completed' WHEN r < 0.85 THEN 'no_show' ELSE 'cancelled' END
                    ELSE CASE WHEN r < 0.10 THEN 'pending' WHEN r < 0.80 THEN 'confirmed' ELSE 'cancelled' END
               END AS status
        FROM drawn
    ) states
)
INSERT INTO bookings_booking (
    reference, student_id, session_id, status, cancel_reason, payment_method, price, currency,
    expires_at, has_result, needs_refund, source, created_at, updated_at, confirmed_at, cancelled_at
)
SELECT 'D' || lpad(b.n::text, 9, '0'),
       st.ids[(b.n %% st.count) + 1],
       b.session_id, b.status,
       CASE WHEN b.status = 'cancelled' THEN CASE WHEN b.n %% 2 = 0 THEN 'student' ELSE 'expired' END ELSE '' END,
       'cash', %(price)s, 'UZS',
       CASE WHEN b.status = 'pending' THEN b.created_at + interval '24 hours' END,
       false, false, 'admin', b.created_at, b.created_at,
       CASE WHEN b.status IN ('confirmed', 'completed', 'no_show') THEN b.created_at + interval '10 minutes' END,
       CASE WHEN b.status = 'cancelled' THEN least(b.created_at + interval '1 day', %(now)s) END
FROM b
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids, count(*) AS count FROM backoffice_user WHERE role = 'student') st
"""

# A payment for every paid booking, 10 minutes after it was made; a third of the bookings the
# students cancelled had paid and were refunded when cancelled.
SEED_PAYMENTS = """
INSERT INTO bookings_payment (
    booking_id, provider, amount, currency, status, refunded_amount, performed_at, cancelled_at, created_at,
    click_paydoc_id, provider_account
)
SELECT id, 'cash', price, 'UZS',
       CASE WHEN status = 'cancelled' THEN 'refunded' ELSE 'paid' END,
       CASE WHEN status = 'cancelled' THEN price ELSE 0 END,
       created_at + interval '10 minutes',
       CASE WHEN status = 'cancelled' THEN cancelled_at END,
       created_at + interval '10 minutes',
       '', ''  -- cash: no Click document, no provider account
FROM bookings_booking
WHERE status IN ('confirmed', 'completed', 'no_show') OR (cancel_reason = 'student' AND id %% 3 = 0)
"""

RECOUNT_SEATS = """
UPDATE bookings_session s SET seats_taken = held.n
FROM (SELECT session_id, count(*) AS n FROM bookings_booking
      WHERE status IN ('pending', 'confirmed') GROUP BY session_id) held
WHERE s.id = held.session_id
"""


def seed(now: datetime) -> tuple[Any, dict[str, int], float]:
    """The centre; returns a manager to log in as, the row counts and the seconds it took."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from backoffice.models import Role, User
    from bookings.models import Booking, Payment, Product, ProductKind, Session, Tutor

    started = time.perf_counter()
    for code, name, kind in (
        ("MOCK-PAPER", "IELTS mock (paper)", ProductKind.EXAM),
        ("MOCK-CD", "IELTS mock (computer)", ProductKind.EXAM),
        ("SPEAKING", "Speaking mock", ProductKind.EXAM),
        ("GROUP", "Group lesson", ProductKind.LESSON),
    ):
        Product.objects.create(code=code, name=name, kind=kind, price=Decimal("350000"), default_capacity=CAPACITY)
    for n in range(TUTORS):
        user = User.objects.create(username=f"bench-tutor-{n}", first_name="Tutor", last_name=str(n), role=Role.TUTOR)
        Tutor.objects.create(user=user)
    create_students(STUDENTS)
    manager = User.objects.create_user(username="bench-manager", password="bench", role=Role.MANAGER)

    params = {
        "now": now,
        "today": timezone.localdate(now).isoformat(),
        "tz": settings.TIME_ZONE,
        "back": DAYS_BACK,
        "ahead": DAYS_AHEAD,
        "per_day": SESSIONS_PER_DAY,
        "per": PER_SESSION,
        "capacity": CAPACITY,
        "tutors": TUTORS,
        "price": Decimal("350000"),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        for sql in (SEED_SESSIONS, SEED_BOOKINGS, SEED_PAYMENTS, RECOUNT_SEATS):
            cursor.execute(sql, params)
    settle(*TABLES)
    counts = {
        "sessions": Session.objects.count(),
        "bookings": Booking.objects.count(),
        "payments": Payment.objects.count(),
    }
    if counts["bookings"] != (DAYS_BACK + DAYS_AHEAD) * SESSIONS_PER_DAY * PER_SESSION:
        fail(f"seeded {counts['bookings']:,} bookings")
    return manager, counts, time.perf_counter() - started


# --- Baseline: the same figures, one query per figure, per day and per product -------------------


def naive_figures(now: datetime) -> Any:
    """What a first version would do: a query per KPI, per chart day and per product."""
    from django.db.models import Sum
    from django.utils import timezone

    from bookings.models import Booking, BookingStatus, Payment, PaymentStatus, Product, Session, SessionStatus
    from bookings.reports import (
        CHART_DAYS,
        EXPIRING_WITHIN,
        FILL_AHEAD,
        NEXT_SESSIONS,
        NO_SHOW_DAYS,
        Figures,
        ProductFill,
        Ratio,
        UpcomingSession,
        local_midnight,
    )

    today = timezone.localdate(now)
    today_start, tomorrow_start = local_midnight(today), local_midnight(today + timedelta(days=1))
    month_start = today.replace(day=1)
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    live = Session.objects.exclude(status=SessionStatus.CANCELLED)

    def seats(query: Any) -> Ratio:
        row = query.aggregate(taken=Sum("seats_taken"), capacity=Sum("capacity"))
        return Ratio(row["taken"] or 0, row["capacity"] or 0)

    def revenue(start: datetime, end: datetime) -> Decimal:
        received = Payment.objects.filter(
            status__in=(PaymentStatus.PAID, PaymentStatus.REFUNDED), performed_at__gte=start, performed_at__lt=end
        ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
        refunded = Payment.objects.filter(
            status=PaymentStatus.REFUNDED, cancelled_at__gte=start, cancelled_at__lt=end
        ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
        return received - refunded

    today_sessions = live.filter(starts_at__gte=today_start, starts_at__lt=tomorrow_start)
    finished = Booking.objects.filter(status__in=(BookingStatus.COMPLETED, BookingStatus.NO_SHOW))
    finished_today = finished.filter(session__starts_at__gte=today_start, session__starts_at__lt=now).count()
    seats_today = seats(today_sessions)
    recent = finished.filter(session__starts_at__gte=now - timedelta(days=NO_SHOW_DAYS), session__starts_at__lt=now)
    pending = Booking.objects.filter(status=BookingStatus.PENDING)
    price = pending.aggregate(total=Sum("price"))["total"] or Decimal(0)
    paid = Payment.objects.filter(booking__status=BookingStatus.PENDING, status=PaymentStatus.PAID).aggregate(
        total=Sum("amount")
    )["total"] or Decimal(0)
    week_end, month_end = (now + timedelta(days=n) for n in FILL_AHEAD)
    fills = []
    for product in Product.objects.order_by("name", "id"):
        ahead = live.filter(product=product, starts_at__gte=now)
        month = seats(ahead.filter(starts_at__lt=month_end))
        if month.whole:
            fills.append(ProductFill(product.name, seats(ahead.filter(starts_at__lt=week_end)), month))
    upcoming = Session.objects.filter(status=SessionStatus.OPEN, starts_at__gt=now).order_by("starts_at", "id")
    return Figures(
        computed_at=now,
        today=today,
        month_start=month_start,
        sessions_today=today_sessions.count(),
        seats_today=Ratio(seats_today.part + finished_today, seats_today.whole),
        bookings_today=Booking.objects.filter(created_at__gte=today_start, created_at__lt=tomorrow_start).count(),
        pending=pending.count(),
        pending_due=max(price - paid, Decimal(0)),
        expiring=pending.filter(expires_at__lte=now + EXPIRING_WITHIN).count(),
        expiring_before=now + EXPIRING_WITHIN,
        revenue_month=revenue(local_midnight(month_start), tomorrow_start),
        fill_week=seats(live.filter(starts_at__gte=now, starts_at__lt=week_end)),
        fill_week_end=week_end,
        no_show=Ratio(recent.filter(status=BookingStatus.NO_SHOW).count(), recent.count()),
        bookings_per_day=[
            (
                day,
                Booking.objects.filter(
                    created_at__gte=local_midnight(day), created_at__lt=local_midnight(day + timedelta(days=1))
                ).count(),
            )
            for day in days
        ],
        revenue_per_day=[(day, revenue(local_midnight(day), local_midnight(day + timedelta(days=1)))) for day in days],
        fill_by_product=fills,
        next_sessions=[
            UpcomingSession(
                id=s.pk,
                label=s.product.name,  # a query per row: no select_related
                tutor=str(s.tutor) if s.tutor_id else "",
                room=s.room,
                starts_at=s.starts_at,
                capacity=s.capacity,
                seats_taken=s.seats_taken,
            )
            for s in upcoming[:NEXT_SESSIONS]
        ],
    )


# --- Measuring ---------------------------------------------------------------------------------


def timed(function: Callable[[], Any], runs: int, *, before: Callable[[], Any] | None = None) -> list[float]:
    seconds = []
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return seconds


def count_queries(function: Callable[[], Any]) -> tuple[Any, list[str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        result = function()
    return result, [query["sql"] for query in captured.captured_queries]


def sequential_scans(queries: list[str]) -> list[str]:
    """Tables some dashboard query reads with a sequential scan (the small catalogue ones aside)."""
    from django.db import connection

    found = set()
    with connection.cursor() as cursor:
        for sql in queries:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            plan = json.dumps(cursor.fetchone()[0])
            found.update(re.findall(r'"Node Type": "Seq Scan", [^}]*?"Relation Name": "(\w+)"', plan))
    return sorted(found - {"bookings_product", "bookings_tutor", "backoffice_user"})


def spread(seconds: list[float]) -> str:
    return (
        f"median {statistics.median(seconds) * 1000:,.1f} ms "
        f"(min {min(seconds) * 1000:,.1f}, max {max(seconds) * 1000:,.1f}; {len(seconds)} runs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-runs", type=int, default=RUNS_COLD)
    parser.add_argument("--warm-runs", type=int, default=RUNS_WARM)
    args = parser.parse_args(argv)

    configure("dashboard")
    # WhiteNoise serves from the app directories here: collectstatic is for production.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    with throwaway_database():
        from django.conf import settings
        from django.core.cache import cache
        from django.db import connection
        from django.test import Client
        from django.urls import reverse
        from django.utils import timezone

        from bookings.models import Payment
        from bookings.reports import compute_figures

        env = environment()
        now = timezone.now()
        print(f"seeding {(DAYS_BACK + DAYS_AHEAD) * SESSIONS_PER_DAY * PER_SESSION:,} bookings ...", flush=True)
        manager, counts, seed_seconds = seed(now)
        print(f"seeded in {seed_seconds:.0f} s; measuring ...", flush=True)

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # django.test.Client's host
        client = Client()
        client.force_login(manager)
        url = reverse("admin:index")

        def page() -> None:
            response = client.get(url)
            if response.status_code != 200:
                fail(f"GET {url} answered {response.status_code}")

        cache.clear()
        page()  # first request of the process: imports, templates, the session row
        _, cold_page_queries = count_queries(lambda: (cache.clear(), page()))
        _, warm_page_queries = count_queries(page)
        cold = timed(page, args.cold_runs, before=cache.clear)
        warm = timed(page, args.warm_runs)

        ours, ours_queries = count_queries(lambda: compute_figures(now=now))
        naive, naive_queries = count_queries(lambda: naive_figures(now))
        if replace(naive, computed_at=ours.computed_at) != ours:
            fail(f"the naive figures differ from compute_figures():\n  naive {naive}\n  ours  {ours}")
        compute = timed(lambda: compute_figures(now=now), args.cold_runs)
        baseline = timed(lambda: naive_figures(now), args.cold_runs)
        scans = sequential_scans(ours_queries)

        # Revenue per day reads payments by performed_at through the payment_received index
        # (migration 0002): the same figures without it show what it saves.
        index = next(index for index in Payment._meta.indexes if index.name == "payment_received")
        with connection.schema_editor() as editor:
            editor.remove_index(Payment, index)
        settle("bookings_payment")
        without_index = timed(lambda: compute_figures(now=now), args.cold_runs)
        scans_without_index = sequential_scans(count_queries(lambda: compute_figures(now=now))[1])
        with connection.schema_editor() as editor:
            editor.add_index(Payment, index)

    cold_median, warm_median = statistics.median(cold), statistics.median(warm)
    ratio = statistics.median(baseline) / statistics.median(compute)
    rows = [
        *env,
        ("data", ", ".join(f"{n:,} {name}" for name, n in counts.items()) + f" (seeded in {seed_seconds:.0f} s)"),
        ("index page, cold", spread(cold) + f"; {len(cold_page_queries)} queries, every cache cleared"),
        ("index page, warm", spread(warm) + f"; {len(warm_page_queries)} queries"),
        ("compute_figures()", spread(compute) + f"; {len(ours_queries)} queries"),
        ("naive (baseline)", spread(baseline) + f"; {len(naive_queries)} queries"),
        ("ratio naive/ours", f"{ratio:.1f}x faster"),
        (
            "figures",
            f"{ours.bookings_today:,} bookings today, {ours.pending:,} pending, no-show {ours.no_show.percent}%",
        ),
        ("sequential scans", ", ".join(scans) or "none: every dashboard query is index-backed"),
        (
            "without payment_received",
            spread(without_index) + f"; sequential scans: {', '.join(scans_without_index) or 'none'}",
        ),
        ("check", "naive and compute_figures() agree on every figure"),
    ]
    report(
        "dashboard — admin index with 1,000,000 bookings",
        rows,
        [
            Target(f"warm page < {TARGET_WARM * 1000:.0f} ms: {warm_median * 1000:,.1f} ms", warm_median < TARGET_WARM),
            Target(f"cold page < {TARGET_COLD:.1f} s: {cold_median * 1000:,.1f} ms", cold_median < TARGET_COLD),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
