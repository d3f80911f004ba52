"""Payment callbacks: Click Complete and Payme Perform against one daphne process on PostgreSQL, with duplicates.

One daphne process serves the project from a throw-away PostgreSQL database (and Redis, when
``REDIS_URL`` is set). The centre has one pending booking per payment. First, not part of the
target, every payment is started the way its provider starts it -- Click Prepare, Payme
CreateTransaction -- by the same clients (that phase is timed and printed on its own). Then the
measured phase: ``--callbacks`` callbacks (default 2,000), half Click Complete and half Payme
PerformTransaction, sent by ``--clients`` concurrent clients (default 50). 20 % of them are
duplicates, each fired at the same moment as its original: the client writes both requests, on two
connections, before it reads either answer (a provider retrying while its first call is still in
flight).

Checked afterwards, or the run fails: every booking paid exactly once (one paid payment, the
booking confirmed; no second payment, none lost), every original answered with success, and every
duplicate with the protocol's idempotent answer -- Click: of the two calls one answers 0 and the
other -4 "Already paid"; Payme: both answer the same result (state 2, the same ``perform_time``
and ``transaction``).

Printed: the callbacks' throughput and p50/p99 latency, and the same server's throughput on a
trivial view (``/healthz``, answered by the first middleware) with the same clients in the same run,
before and after the callbacks; the better of the two is the baseline of the ratio.

Targets (issue 15): exactly once (0 double payments, 0 lost), and the callbacks' throughput at least
25 % of the trivial view's.

    DATABASE_URL=postgres://root@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/payment_callbacks.py [--callbacks 2000] [--clients 50]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import secrets
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import (
    CpuMeter,
    DaphneServer,
    Target,
    bench_product,
    configure,
    create_students,
    environment,
    fail,
    report,
    scale,
    settle,
    throwaway_database,
)

CALLBACKS = scale(2000, 40)
CLIENTS = scale(50, 4)
DUPLICATE_SHARE = 0.20
TARGET_SHARE = 0.25
PRICE = Decimal("350000")
SEED = 15

# The providers' credentials of the run: the server reads them from its environment.
CREDENTIALS = {
    "CLICK_SERVICE_ID": "24680",
    "CLICK_MERCHANT_ID": "13579",
    "CLICK_MERCHANT_USER_ID": "11",
    "CLICK_SECRET_KEY": "bench-click-secret",
    "PAYME_MERCHANT_ID": "5e730e8e0b852a417aa49ceb",
    "PAYME_KEY": "bench-payme-key-0123456789abcdef0123",
    "PAYME_TEST_KEY": "bench-payme-test-key-0123456789abcdef",
    "PAYME_TEST_MODE": "0",
    "PAYMENT_ALLOWED_IPS": "",
    "SMS_BACKEND": "dummy",
    "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
}
SIGN_TIME = "2025-03-15 12:00:00"
FORM = "application/x-www-form-urlencoded"
TABLES = ("bookings_booking", "bookings_payment", "bookings_paymentlog", "bookings_bookingevent")


# --- The calls -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Answer:
    status: int
    body: Any
    seconds: float


def click_call(stage: str, reference: str, trans_id: str, prepare_id: int | None = None) -> Call:
    """A Prepare or Complete as Click posts it, signed as Click signs it."""
    form = {
        "click_trans_id": trans_id,
        "service_id": CREDENTIALS["CLICK_SERVICE_ID"],
        "click_paydoc_id": str(int(trans_id) + 500_000),
        "merchant_trans_id": reference,
        "amount": f"{PRICE:.2f}",
        "action": "0" if stage == "prepare" else "1",
        "error": "0",
        "error_note": "Success",
        "sign_time": SIGN_TIME,
    }
    parts = [form["click_trans_id"], form["service_id"], CREDENTIALS["CLICK_SECRET_KEY"], reference]
    if stage == "complete":
        form["merchant_prepare_id"] = str(prepare_id)
        parts.append(form["merchant_prepare_id"])
    parts += [form["amount"], form["action"], form["sign_time"]]
    form["sign_string"] = hashlib.md5("".join(parts).encode()).hexdigest()
    return Call(f"/payments/click/{stage}/", urlencode(form).encode(), {"Content-Type": FORM})


def payme_call(method: str, params: dict[str, Any], request_id: int) -> Call:
    token = base64.b64encode(f"Paycom:{CREDENTIALS['PAYME_KEY']}".encode()).decode()
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).encode()
    return Call("/payments/payme/", body, {"Content-Type": "application/json", "Authorization": f"Basic {token}"})


HEALTHZ = Call("/healthz", b"", {})


class Client:
    """Two keep-alive HTTP/1.1 connections to the server: one for a call, both for a call and its duplicate."""

    def __init__(self, port: int) -> None:
        self.connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=120) for _ in range(2)]

    def send(self, index: int, call: Call) -> float:
        connection = self.connections[index]
        method = "GET" if call is HEALTHZ else "POST"
        started = time.perf_counter()
        connection.request(method, call.path, body=call.body or None, headers=call.headers)
        return started

    def read(self, index: int, started: float) -> Answer:
        response = self.connections[index].getresponse()
        raw = response.read()
        seconds = time.perf_counter() - started
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw[:200]
        return Answer(response.status, body, seconds)

    def one(self, call: Call) -> Answer:
        return self.read(0, self.send(0, call))

    def together(self, call: Call) -> tuple[Answer, Answer]:
        """The call and its duplicate, both written before either answer is read."""
        first, second = self.send(0, call), self.send(1, call)
        return self.read(0, first), self.read(1, second)

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


@dataclass
class Phase:
    """``clients`` threads, each with its own Client, taking items off one shared list until it is empty."""

    clients: int
    port: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu: CpuMeter = field(default_factory=CpuMeter)

    def run(self, items: Sequence[Any], work: Callable[[Client, Any], list[Answer]]) -> list[list[Answer]]:
        results: list[list[Answer]] = [[] for _ in items]
        position = iter(range(len(items)))
        lock = threading.Lock()
        barrier = threading.Barrier(self.clients + 1)
        done = [0.0] * self.clients

        def worker(n: int) -> None:
            client = Client(self.port)
            try:
                client.one(HEALTHZ)  # connect before the clock starts
                client.connections[1].connect()
                barrier.wait()
                while True:
                    with lock:
                        i = next(position, None)
                    if i is None:
                        break
                    results[i] = work(client, items[i])
            except threading.BrokenBarrierError:
                pass
            except Exception as exc:
                with lock:
                    self.errors.append(f"client {n}: {type(exc).__name__}: {exc}")
                barrier.abort()
            finally:
                done[n] = time.perf_counter()
                client.close()

        threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(self.clients)]
        for thread in threads:
            thread.start()
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            for thread in threads:
                thread.join()
            fail(f"{len(self.errors)} client error(s) before the start, first: {self.errors[:3]}")
        self.cpu.start()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        self.cpu.stop()
        self.seconds = max(done) - started
        self.latencies = [answer.seconds for answers in results for answer in answers]
        if self.errors:
            fail(f"{len(self.errors)} client error(s), first: {self.errors[:3]}")
        return results

    def rate(self, count: int) -> float:
        return count / self.seconds


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


def latency(phase: Phase) -> str:
    return (
        f"p50 {percentile(phase.latencies, 0.5) * 1000:.1f} ms, p99 {percentile(phase.latencies, 0.99) * 1000:.1f} ms"
    )


# --- The centre and the server ---------------------------------------------------------------------------------


def seed(count: int) -> list[tuple[int, str]]:
    """``count`` pending bookings of 350,000 UZS (one per student), spread over sessions a week ahead."""
    from django.utils import timezone

    from bookings import services
    from bookings.models import Session

    product = bench_product(price=PRICE, default_capacity=200, payment_window_hours=24)
    starts_at = timezone.now().replace(microsecond=0) + timedelta(days=7)
    sessions = Session.objects.bulk_create(
        Session(
            product=product,
            room=f"Hall {n}",
            starts_at=starts_at + timedelta(hours=n),
            ends_at=starts_at + timedelta(hours=n + 3),
            capacity=200,
        )
        for n in range(count // 200 + 1)
    )
    students = create_students(count)
    bookings = []
    for n, student in enumerate(students):
        booking = services.book(
            session=sessions[n // 200], student=student, payment_method="click" if n % 2 else "payme"
        )
        bookings.append((booking.pk, booking.reference))
    return bookings


# --- The run -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    booking_id: int
    reference: str
    provider: str
    txn: str


def start_payments(phase: Phase, payments: list[Payment], now_ms: int) -> dict[str, int]:
    """Click Prepare / Payme CreateTransaction for every payment; returns Click's merchant_prepare_id by txn."""

    def start(client: Client, payment: Payment) -> list[Answer]:
        if payment.provider == "click":
            return [client.one(click_call("prepare", payment.reference, payment.txn))]
        params = {
            "id": payment.txn,
            "time": now_ms,
            "amount": int(PRICE * 100),
            "account": {"booking": payment.reference},
        }
        return [client.one(payme_call("CreateTransaction", params, 1))]

    results = phase.run(payments, start)
    prepared = {}
    for payment, [answer] in zip(payments, results, strict=True):
        body = answer.body
        if payment.provider == "click":
            if answer.status != 200 or body.get("error") != 0:
                fail(f"Click Prepare for {payment.reference}: {answer.status} {body}")
            prepared[payment.txn] = body["merchant_prepare_id"]
        elif answer.status != 200 or (body.get("result") or {}).get("state") != 1:
            fail(f"Payme CreateTransaction for {payment.reference}: {answer.status} {body}")
    return prepared


def callback(payment: Payment, prepared: dict[str, int], request_id: int) -> Call:
    if payment.provider == "click":
        return click_call("complete", payment.reference, payment.txn, prepared[payment.txn])
    return payme_call("PerformTransaction", {"id": payment.txn}, request_id)


def check_answers(items: list[tuple[Payment, bool]], results: list[list[Answer]]) -> tuple[int, int]:
    """Every original succeeded; every duplicate got the idempotent answer. Returns (originals, duplicates)."""
    duplicates = 0
    for (payment, doubled), answers in zip(items, results, strict=True):
        if any(answer.status != 200 for answer in answers):
            fail(f"{payment.reference}: HTTP {[a.status for a in answers]}")
        if payment.provider == "click":
            codes = sorted(answer.body.get("error") for answer in answers)
            if codes != ([-4, 0] if doubled else [0]):
                fail(f"Click Complete for {payment.reference}{' twice' if doubled else ''}: error codes {codes}")
        else:
            results_ = [answer.body.get("result") for answer in answers]
            if any(result is None or result.get("state") != 2 for result in results_):
                fail(f"Payme Perform for {payment.reference}: {[a.body for a in answers]}")
            if doubled and results_[0] != results_[1]:
                fail(f"Payme Perform for {payment.reference} answered twice differently: {results_}")
        duplicates += doubled
    return len(items), duplicates


def check_database(payments: list[Payment]) -> tuple[int, int]:
    """Each booking has exactly one paid payment and is confirmed. Returns (double payments, lost)."""
    from django.db.models import Count, Q

    from bookings.models import Booking, BookingStatus, PaymentStatus

    rows = Booking.objects.filter(pk__in=[p.booking_id for p in payments]).annotate(
        paid=Count("payments", filter=Q(payments__status=PaymentStatus.PAID)),
        other=Count("payments", filter=~Q(payments__status=PaymentStatus.PAID)),
    )
    double = lost = 0
    for booking in rows:
        double += booking.paid > 1
        lost += booking.paid == 0 or booking.status != BookingStatus.CONFIRMED
        if booking.other:
            fail(f"booking {booking.reference}: {booking.other} payment(s) not paid (cancelled or failed)")
    return double, lost


def process_cpu(pid: int) -> float:
    """CPU seconds a process has used (Linux /proc/<pid>/stat: utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_sessions() -> int:
    """Connections PostgreSQL has opened to this database so far (pg_stat_database, PostgreSQL 14+)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def healthz(phase: Phase, count: int) -> float:
    results = phase.run(range(count), lambda client, _: [client.one(HEALTHZ)])
    if any(answer.status != 200 for [answer] in results):
        fail("/healthz did not answer 200")
    return phase.rate(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callbacks", type=int, default=CALLBACKS, help="measured callbacks, duplicates included")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients")
    args = parser.parse_args(argv)
    total, clients = args.callbacks, args.clients
    duplicates = round(total * DUPLICATE_SHARE)
    originals = total - duplicates
    if originals < 2 or duplicates > originals or clients < 1:
        parser.error("--callbacks must be at least 3, --clients at least 1")

    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # a key of the run's own
    os.environ.update(CREDENTIALS)  # this process signs what the server checks
    configure("payment_callbacks")
    from bookings.payments.core import now_ms

    server = None
    with throwaway_database():
        env = environment()
        print(f"bench: {originals:,} pending bookings ...", flush=True)
        bookings = seed(originals)
        payments = [
            Payment(pk, reference, "click" if n % 2 else "payme", str(9_000_000 + n) if n % 2 else f"bench{n:019d}")
            for n, (pk, reference) in enumerate(bookings)
        ]
        shuffled = random.Random(SEED).sample(payments, len(payments))
        doubled = set(random.Random(SEED + 1).sample(range(len(shuffled)), duplicates))
        items = [(payment, n in doubled) for n, payment in enumerate(shuffled)]

        server = DaphneServer("payment-callbacks", **CREDENTIALS)
        try:
            print(f"bench: daphne on port {server.port}; /healthz with {clients} clients ...", flush=True)
            healthz(Phase(clients, server.port), total)  # warm-up
            before = Phase(clients, server.port)
            daphne_before = process_cpu(server.process.pid)
            healthz_before = healthz(before, total)
            healthz_cpu = process_cpu(server.process.pid) - daphne_before

            settle(*TABLES)
            print(f"bench: starting {originals:,} payments (Click Prepare, Payme Create) ...", flush=True)
            starting = Phase(clients, server.port)
            prepared = start_payments(starting, shuffled, now_ms())

            settle(*TABLES)
            print(f"bench: {total:,} callbacks ({duplicates:,} duplicates fired with their original) ...", flush=True)
            load_before = os.getloadavg()[0]
            measured = Phase(clients, server.port)
            sessions_before = pg_sessions()
            daphne_before = process_cpu(server.process.pid)
            results = measured.run(
                items,
                lambda client, item: (
                    list(client.together(callback(item[0], prepared, 2)))
                    if item[1]
                    else [client.one(callback(item[0], prepared, 2))]
                ),
            )

            new_connections = pg_sessions() - sessions_before
            daphne_cpu = process_cpu(server.process.pid) - daphne_before
            load_after = os.getloadavg()[0]
            after = Phase(clients, server.port)
            healthz_after = healthz(after, total)
            checked, duplicate_count = check_answers(items, results)
            double, lost = check_database(payments)
        except SystemExit:
            print(f"bench: the server's log:\n{server.stderr()[-6000:]}", file=sys.stderr)
            raise
        finally:
            server.stop()

        from bookings.models import PaymentLog

        logged = PaymentLog.objects.count()

    sent = sum(len(answers) for answers in results)
    rate = measured.rate(sent)
    baseline = max(healthz_before, healthz_after)
    share = rate / baseline
    rows = [
        *env,
        ("clients", f"{clients} threads, 2 keep-alive connections each, one daphne process"),
        (
            "callbacks",
            f"{sent:,} = {checked:,} originals ({sum(p.provider == 'click' for p in payments):,} Click Complete, "
            f"{sum(p.provider == 'payme' for p in payments):,} Payme Perform) + {duplicate_count:,} duplicates",
        ),
        ("callbacks throughput", f"{rate:,.0f}/s  ({sent:,} in {measured.seconds:.2f} s)"),
        (
            "callbacks latency",
            latency(measured),
        ),
        (
            "CPU per callback",
            f"daphne {daphne_cpu / sent * 1000:.2f} ms; bench clients {measured.cpu.process / sent * 1000:.2f} ms; "
            f"everything else (PostgreSQL, Redis, other work) "
            f"{((measured.cpu.others or 0) - daphne_cpu) / sent * 1000:.2f} ms",
        ),
        (
            "start (not measured)",
            f"{starting.rate(originals):,.0f}/s Prepare/Create, {latency(starting)}",
        ),
        (
            "/healthz (baseline)",
            f"{healthz_before:,.0f}/s before, {healthz_after:,.0f}/s after; daphne CPU "
            f"{healthz_cpu / total * 1000:.2f} ms a request ({latency(before)})",
        ),
        ("ratio callbacks / /healthz", f"{share:.1%} (of the better /healthz run)"),
        (
            "machine load",
            f"{load_before:.1f} before the callbacks, {load_after:.1f} after (1-minute load average, "
            f"{os.cpu_count()} CPUs: other work on the machine slows both figures of the ratio)",
        ),
        ("exactly once", f"{double} double payments, {lost} lost; every duplicate answered idempotently"),
        ("payment log", f"{logged:,} calls logged"),
        (
            "PostgreSQL connections",
            f"{new_connections:,} opened during the callbacks ({new_connections / sent:.2f} per call)",
        ),
    ]
    report(
        f"payment_callbacks — {sent:,} callbacks from {clients} clients, one daphne process",
        rows,
        [
            Target(f"exactly once: {double} double payments, {lost} lost", double == 0 and lost == 0),
            Target(f"callbacks ≥ {TARGET_SHARE:.0%} of /healthz: {share:.1%}", share >= TARGET_SHARE),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
