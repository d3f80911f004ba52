"""The student API's read paths on a large table: ``GET /api/v1/bookings/?type=future`` and
``GET /api/v1/dashboard/stats/``, against the pretest platform's implementation, on PostgreSQL.

The centre holds ``--bookings`` bookings (1,000,000 by default; ``--bookings 20000`` for a quick
run) over ``--bookings / 20`` students and 2,001 sessions, written with one INSERT ... SELECT. One
student has ``--mine`` bookings of every kind (future pending, pending past their deadline,
confirmed, cancelled, past and paid with a result).

Measured in the same run, in this process:

- ours: the real endpoints through Django's test client (JWT authentication, DRF, the JSON
  renderer): the list reads with ``student_bookings`` + ``select_related`` in one query, the
  dashboard with ``student_stats`` in one query;
- the baseline, as the pretest platform did it (reproduced here): the list first cancels the
  student's expired pending bookings inside the GET, one ``save()`` per row, then serialises with
  nested ``ModelSerializer``s without ``select_related`` (a query per booking for its session,
  its product, its tutor, its payments); the dashboard loops over the student's bookings and
  reads each one's results and session. Each baseline call runs in a transaction rolled back
  afterwards, so every repetition finds the same expired bookings to cancel.

Each figure is the median of 20 calls, ours and the baseline's taken in turns, so a background
load (autovacuum after the million-row load) weighs on both alike.

Targets (issue 16): each endpoint at least 10x faster than its baseline, with the same query
count for the student's 10 and ``--mine`` bookings.

Then the write path, ``--posts`` bookings (default 1,000) on one hot session each way, one after
another by one client (latency, not throughput): ``POST /api/v1/bookings/`` over HTTP to one daphne
process (its own process, on the same database, and Redis when ``REDIS_URL`` is set), the same
POST through Django's test client in this process (the whole view without the server), and
``services.book()`` in this process. Each booking is a different student's (one booking per
student per session; no throttle is reached). Printed: the median per booking and the ratios.
What the HTTP answer adds to ``book()``: the server (HTTP parsing, the ASGI hop to a worker
thread and back), the request's own work (the access token checked and its user read, the
throttle's count in the cache, the booking read again with its payment status, the answer
serialised with its payment links).

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/api.py --bookings 20000
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
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
    DaphneServer,
    Target,
    bench_product,
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

SESSIONS = 2001  # coprime with the student count: (student, session) pairs never repeat
REPEAT = scale(20, 2)
TARGET_RATIO = 10


def build(total: int, mine: int) -> tuple[Any, Any]:
    """The centre's bookings in bulk, and the measured student with ``mine`` of every kind."""
    from django.db import connection
    from django.utils import timezone

    from backoffice.models import Role, User
    from bookings.models import Session, TestResult

    product = bench_product()
    now = timezone.now().replace(microsecond=0)
    sessions = Session.objects.bulk_create(
        Session(
            product=product,
            room="Hall",
            starts_at=now + timedelta(hours=6 * (n - SESSIONS // 2)),
            ends_at=now + timedelta(hours=6 * (n - SESSIONS // 2) + 3),
            capacity=10_000,
            created_at=now,
        )
        for n in range(SESSIONS)
    )
    students = create_students(max(total // 20, 100))
    first_student, first_session = students[0].pk, sessions[0].pk
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO bookings_booking (reference, student_id, session_id, status, cancel_reason,
                payment_method, price, currency, expires_at, has_result, needs_refund, source, created_at,
                updated_at)
            SELECT 'B' || i, %s + i %% %s, %s + i %% %s,
                   (ARRAY['pending', 'confirmed', 'cancelled', 'completed'])[1 + i %% 4],
                   CASE WHEN i %% 4 = 2 THEN 'student' ELSE '' END, 'cash', 350000, 'UZS',
                   now() + interval '1 day', false, false, 'admin', now(), now()
            FROM generate_series(0, %s - 1) AS i
            """,
            [first_student, len(students), first_session, SESSIONS, total],
        )
    student = User.objects.create(username="bench-measured", role=Role.STUDENT, password="!")
    future = [s for s in sessions if s.starts_at > now]
    past = [s for s in sessions if s.ends_at < now]
    kinds = ["pending", "expired", "confirmed", "cancelled", "past"]
    with connection.cursor() as cursor:
        for n in range(mine):
            kind = kinds[n % len(kinds)]
            session = past[n] if kind == "past" else future[n]
            status = {"expired": "pending", "past": "completed"}.get(kind, kind)
            expires = now - timedelta(hours=1) if kind == "expired" else now + timedelta(hours=20)
            reason = "student" if status == "cancelled" else ""
            cursor.execute(
                "INSERT INTO bookings_booking (reference, student_id, session_id, status, cancel_reason, "
                "payment_method, price, currency, expires_at, has_result, needs_refund, source, created_at, "
                "updated_at) VALUES (%s, %s, %s, %s, %s, 'cash', 0, 'UZS', %s, %s, false, 'api', now(), now())",
                [f"M{student.pk}-{n}", student.pk, session.pk, status, reason, expires, kind == "past"],
            )
    from bookings.models import Booking

    TestResult.objects.bulk_create(
        TestResult(
            booking=booking,
            listening=Decimal("7.0"),
            reading=Decimal("6.5"),
            writing=Decimal("6.0"),
            speaking=Decimal("6.5"),
            overall=Decimal("6.5"),
        )
        for booking in Booking.objects.filter(student=student, has_result=True)
    )
    return student, product


# --- The pretest platform's implementation, as the baseline ------------------------------------


def baseline_serializers() -> type:
    from rest_framework import serializers

    from bookings.models import Booking, Product, Session, Tutor
    from bookings.selectors import paid_total

    class ProductSerializer(serializers.ModelSerializer):
        class Meta:
            model = Product
            fields = ["id", "code", "name"]

    class TutorSerializer(serializers.ModelSerializer):
        class Meta:
            model = Tutor
            fields = ["id", "timezone"]

    class SessionSerializer(serializers.ModelSerializer):
        product = ProductSerializer()
        tutor = TutorSerializer(allow_null=True)

        class Meta:
            model = Session
            fields = ["id", "product", "starts_at", "ends_at", "tutor", "room"]

    class BookingSerializer(serializers.ModelSerializer):
        session = SessionSerializer()
        payment_status = serializers.SerializerMethodField()

        class Meta:
            model = Booking
            fields = ["reference", "status", "payment_status", "price", "expires_at", "has_result", "session"]

        def get_payment_status(self, booking: Booking) -> str:
            if booking.status == "cancelled":
                return "cancelled"
            return "paid" if paid_total(booking) >= booking.price else "pending"

    return BookingSerializer


def baseline_bookings(student: Any, serializer: type) -> list[dict[str, Any]]:
    from django.utils import timezone

    from bookings.models import Booking

    now = timezone.now()
    for booking in Booking.objects.filter(student=student, status="pending"):
        if booking.expires_at and booking.expires_at <= now:  # the expiry loop inside the GET
            booking.status = "cancelled"
            booking.cancel_reason = "expired"
            booking.save()
    bookings = (
        Booking.objects.filter(student=student, session__starts_at__gt=now)
        .exclude(status="cancelled")
        .order_by("session__starts_at")
    )
    return serializer(bookings, many=True).data


def baseline_stats(student: Any) -> dict[str, Any]:
    from django.utils import timezone

    from bookings.models import Booking

    scores, upcoming, total = [], 0, 0
    for booking in Booking.objects.filter(student=student):
        for result in booking.results.all():
            total += 1
            if result.overall is not None:
                scores.append(float(result.overall))
        if booking.status == "confirmed" and booking.session.starts_at > timezone.now():
            upcoming += 1
    return {
        "total_tests": total,
        "average_score": round(sum(scores) / len(scores), 1) if scores else 0,
        "best_score": max(scores) if scores else 0,
        "upcoming_tests": upcoming,
    }


def rolled_back(call: Callable[[], Any]) -> Callable[[], Any]:
    from django.db import transaction

    def run() -> Any:
        with transaction.atomic():
            result = call()
            transaction.set_rollback(True)
        return result

    return run


# --- Measuring -----------------------------------------------------------------------------------


def measure(call: Callable[[], Any]) -> tuple[int, Any]:
    """The queries of one call, and its result."""
    from django.db import connection

    queries = []
    # A wrapper, not CaptureQueriesContext: the request_started signal empties the query log.
    with connection.execute_wrapper(lambda execute, sql, *args: queries.append(sql) or execute(sql, *args)):
        result = call()
    return len(queries), result


def timed_pair(ours: Callable[[], Any], baseline: Callable[[], Any]) -> tuple[float, float]:
    """Median milliseconds of ``REPEAT`` calls of each, taken in turns (ours, baseline, ours, ...):
    whatever else the machine does (autovacuum after the 1M-row load, a checkpoint) weighs on both
    alike, so the ratio does not swing with it."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(REPEAT):
        for call, into in ((ours, times[0]), (baseline, times[1])):
            start = time.perf_counter()
            call()
            into.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


# --- The write path: POST bookings/ through daphne against book() --------------------------------

WARM_UP = scale(20, 2)


def hot_sessions(product: Any, count: int) -> list[Any]:
    """One session per way of booking, each with a seat for every booking of the run."""
    from django.utils import timezone

    from bookings.models import Session

    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    return Session.objects.bulk_create(
        Session(
            product=product,
            room=f"Hot {n}",
            starts_at=start + timedelta(hours=4 * n),
            ends_at=start + timedelta(hours=4 * n + 3),
            capacity=count,
            created_at=start,
        )
        for n in range(3)
    )


def timed_each(items: list[Any], call: Callable[[Any], None]) -> list[float]:
    times = []
    for item in items:
        start = time.perf_counter()
        call(item)
        times.append((time.perf_counter() - start) * 1000)
    return times


def measure_writes(product: Any, count: int) -> list[tuple[str, str]]:
    """Book ``count`` seats each way; the figures' rows."""
    from django.test import Client
    from rest_framework_simplejwt.tokens import RefreshToken

    from backoffice.models import Role, User
    from bookings import services
    from bookings.models import Booking, BookingSource

    over_http, in_client, in_process = hot_sessions(product, count + WARM_UP)
    students = User.objects.bulk_create(
        User(username=f"bench-poster-{n}", role=Role.STUDENT, password="!") for n in range(count + WARM_UP)
    )
    tokens = {student.pk: f"Bearer {RefreshToken.for_user(student).access_token}" for student in students}
    settle("bookings_session", "backoffice_user")

    def body(session: Any) -> str:
        return json.dumps({"session": session.pk, "payment_method": "cash"})

    server = DaphneServer("api")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

        def post_http(student: Any) -> None:
            headers = {"Authorization": tokens[student.pk], "Content-Type": "application/json", "Host": "127.0.0.1"}
            connection.request("POST", "/api/v1/bookings/", body(over_http), headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 201:
                fail(f"POST over HTTP answered {response.status}: {answer[:300]!r}")

        timed_each(students[:WARM_UP], post_http)
        http_ms = timed_each(students[WARM_UP:], post_http)
        connection.close()
    finally:
        server.stop()

    client = Client()

    def post_client(student: Any) -> None:
        response = client.post(
            "/api/v1/bookings/", body(in_client), content_type="application/json", HTTP_AUTHORIZATION=tokens[student.pk]
        )
        if response.status_code != 201:
            fail(f"POST through the test client answered {response.status_code}")

    def book(student: Any) -> None:
        services.book(session=in_process, student=student, actor=student, source=BookingSource.API)

    timed_each(students[:WARM_UP], post_client)
    client_ms = timed_each(students[WARM_UP:], post_client)
    timed_each(students[:WARM_UP], book)
    book_ms = timed_each(students[WARM_UP:], book)
    booked = [Booking.objects.filter(session=s).count() for s in (over_http, in_client, in_process)]
    if booked != [count + WARM_UP] * 3:
        fail(f"bookings made (HTTP, test client, book()): {booked}, expected {count + WARM_UP} each")

    served, view, core = (statistics.median(t) for t in (http_ms, client_ms, book_ms))
    p90 = sorted(http_ms)[len(http_ms) * 9 // 10]
    return [
        ("POST bookings/ (daphne)", f"{served:.1f} ms median, p90 {p90:.1f} ms"),
        ("  same, test client", f"{view:.1f} ms median (the view without the server)"),
        ("  book() in process", f"{core:.1f} ms median"),
        (
            "  ratios",
            f"HTTP / book() {served / core:.1f}x; view / book() {view / core:.1f}x; server {served - view:.1f} ms",
        ),
        ("  bookings", f"{count:,} each way (+{WARM_UP} warm-up), one client, one hot session each"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bookings", type=int, default=scale(1_000_000, 20_000), help="bookings in the centre (default 1,000,000)"
    )
    parser.add_argument("--mine", type=int, default=100, help="the measured student's bookings (default 100)")
    parser.add_argument("--posts", type=int, default=scale(1000, 10), help="bookings made each way (default 1,000)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of 20 loads of our list")
    args = parser.parse_args()
    os.environ.setdefault("HTTPS_ONLY", "0")  # the test client speaks plain HTTP, in this process
    configure("api")
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    with throwaway_database():
        from django.core import signals
        from django.db import close_old_connections
        from django.test import Client
        from rest_framework_simplejwt.tokens import RefreshToken

        started = time.perf_counter()
        student, product = build(args.bookings, args.mine)
        settle("bookings_booking", "bookings_session", "bookings_testresult", "backoffice_user")
        built = time.perf_counter() - started
        # As Django's test client is used in tests: the connection is kept between requests (a server
        # keeps it too, CONN_MAX_AGE), so each request does not pay a new PostgreSQL connection.
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(student).access_token}")
        serializer = baseline_serializers()

        # Timed: the request and its JSON answer; reading that JSON back is the client's work.
        def ours_list() -> Any:
            response = client.get("/api/v1/bookings/?type=future&page_size=100")
            if response.status_code != 200:
                fail(f"bookings list answered {response.status_code}")
            return response

        def ours_stats() -> Any:
            return client.get("/api/v1/dashboard/stats/")

        base_list = rolled_back(lambda: baseline_bookings(student, serializer))
        base_stats_call = rolled_back(lambda: baseline_stats(student))
        list_queries, listed = measure(ours_list)
        stats_queries, stats = measure(ours_stats)
        listed, stats = listed.json(), stats.json()
        base_list_queries, base_listed = measure(base_list)
        base_stats_queries, base_stats = measure(base_stats_call)
        list_ms, base_list_ms = timed_pair(ours_list, base_list)
        stats_ms, base_stats_ms = timed_pair(ours_stats, base_stats_call)
        if args.profile:
            only = r"/(api|bookings|backoffice)/|rest_framework|simplejwt|django_filters|sql/compiler"
            print(profiled(ours_list, 20, only=only), flush=True)
        if [b["reference"] for b in listed["results"]] != [b["reference"] for b in base_listed]:
            fail("the list and the baseline disagree on the student's future bookings")
        if stats != base_stats:
            fail(f"the dashboard and the baseline disagree: {stats} != {base_stats}")

        # The same queries for a student with 10 bookings as for one with --mine.
        from bookings.models import Booking

        few = Booking.objects.filter(student=student).order_by("pk").values_list("pk", flat=True)[10:]
        Booking.objects.filter(pk__in=list(few)).delete()
        list_queries_few, _ = measure(ours_list)
        stats_queries_few, _ = measure(ours_stats)
        print(f"bench: {args.posts:,} bookings each way (daphne, test client, book()) ...", flush=True)
        writes = measure_writes(product, args.posts)

        rows = [
            *environment(),
            ("data", f"{args.bookings:,} bookings, built in {built:.1f} s; the student has {args.mine}"),
            ("bookings?type=future", f"{list_ms:.1f} ms, {list_queries} queries ({len(listed['results'])} rows)"),
            (
                "  baseline",
                f"{base_list_ms:.1f} ms, {base_list_queries} queries ({base_list_ms / list_ms:.1f}x)",
            ),
            ("dashboard/stats", f"{stats_ms:.1f} ms, {stats_queries} queries"),
            ("  baseline", f"{base_stats_ms:.1f} ms, {base_stats_queries} queries ({base_stats_ms / stats_ms:.1f}x)"),
            ("queries for 10 bookings", f"list {list_queries_few}, dashboard {stats_queries_few}"),
            *writes,
        ]
        targets = [
            Target(f"bookings list >= {TARGET_RATIO}x its baseline", base_list_ms >= TARGET_RATIO * list_ms),
            Target(f"dashboard stats >= {TARGET_RATIO}x its baseline", base_stats_ms >= TARGET_RATIO * stats_ms),
            Target(
                "constant query count (10 vs --mine bookings)",
                (list_queries, stats_queries) == (list_queries_few, stats_queries_few),
            ),
        ]
        report(f"Student API reads, {args.bookings:,} bookings", rows, targets)


if __name__ == "__main__":
    main()
