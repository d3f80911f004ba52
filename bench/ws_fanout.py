"""WebSocket fan-out: 500 sockets on one daphne process with channels-redis, bookings through the services.

One daphne process serves ``/ws/notifications/`` from a throw-away PostgreSQL database and a Redis
database of the benchmark's own (``--redis-db``, default 9; only that one is flushed, before and
after). This process logs 500 people in (half operators, half tutors: session cookies written to
the database), opens one socket each with the ``websockets`` library and reads every frame.

1. Our path: ``bookings.services.book()`` at ``--rate`` bookings per second for ``--seconds``,
   each on a session of one of the tutors. A booking publishes ``booking.created`` (every staff
   socket and the session's tutor) and ``slot.updated`` (every staff socket) after commit; they
   travel through ``realtime.delivery`` (its courier thread) to the layer, daphne and the
   consumer. Measured: commit (an ``on_commit`` hook registered before the booking's own) to
   receipt of ``booking.created`` at each socket that should get it, and every delivery owed that
   never arrived.
2. The baseline, in the same run at the same load: the same two envelopes (taken from real
   bookings, so of the same size) sent with the channel layer's ``group_send`` to the same groups,
   from a thread with its own event loop, as the courier is, but without the services, the commit
   hooks and realtime.delivery; from the layer on it is the same route (daphne, realtime/fanout.py,
   the consumer). Measured from the first ``group_send`` to receipt. The phases alternate in
   ``--rounds`` rounds, so a busier spell of the machine does not land on one of them only.
3. Idle sockets: ``--idle-sockets`` fresh sockets left alone for ``--idle`` seconds (no frame
   either way, as a tab in the background), then one booking per tutor among them: every socket
   gets what it is owed, none closed meanwhile (a closed socket is a reconnect in a browser).

Targets (issue 12): p99 of our path ≤ 1.5× the baseline's p99, 0 lost; after the idle spell 0 lost
and 0 reconnects.

    DATABASE_URL=postgres://root@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/ws_fanout.py            # full size, ~8 minutes
    .venv/bin/python bench/ws_fanout.py --quick        # 20 sockets, 3 s, 10 s idle: a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import (
    PROJECT_ROOT,
    SMOKE,
    Target,
    configure,
    environment,
    fail,
    log_in,
    psycopg_params,
    report,
    scale,
    throwaway_database,
    wait_until_listening,
)

SOCKETS = 500
RATE = 5.0  # bookings per second
SECONDS = 30
ROUNDS = 3
IDLE_SECONDS = 300
IDLE_SOCKETS = 200
REDIS_DB = 9
DRAIN_SECONDS = 15  # after the last event of a phase, how long a missing delivery is waited for
TARGET_RATIO = 1.5


def bench_redis_url(db: int) -> str:
    """The configured Redis server (or the local default), database ``db``."""
    configured = os.environ.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"
    parts = urlsplit(configured)
    configured_db = (parts.path or "/0").strip("/") or "0"
    if configured_db == str(db):
        print(
            f"bench: REDIS_URL uses database {db}, the one this benchmark flushes; pass --redis-db N.",
            file=sys.stderr,
        )
        sys.exit(2)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    try:
        client.flushdb()  # the benchmark's own database only
    finally:
        client.close()


# --- People, sessions, logins -----------------------------------------------------------------


@dataclass
class Person:
    user: Any
    cookie: str
    tutor: Any = None  # the Tutor row, for tutors
    session: Any = None  # the tutor's session that bookings go to

    @property
    def is_tutor(self) -> bool:
        return self.tutor is not None


def seed(*, staff: int, tutors: int, students: int) -> tuple[list[Person], list[Person], list[Any]]:
    """Operators and tutors who can log in (one session each), a lesson session per tutor, students."""
    from django.utils import timezone

    from backoffice.models import Role, User
    from bench._setup import create_students
    from bookings.models import Product, ProductKind, Scoring, Session, Tutor

    now = timezone.now()
    product = Product.objects.create(
        code="BENCH-LESSON",
        name="Speaking lesson (bench)",
        kind=ProductKind.LESSON,
        duration_minutes=60,
        price=Decimal("150000"),
        default_capacity=1,
        payment_window_hours=24,
        scoring=Scoring.NONE,
    )

    def people(role: str, count: int) -> list[Any]:
        # save() per user: it sets is_staff from the role and the role's group. A few hundred rows.
        made = []
        for n in range(count):
            user = User(username=f"bench-{role}-{n}", first_name=role.title(), last_name=str(n), role=role)
            user.set_unusable_password()
            user.save()
            made.append(user)
        return made

    operators = people(Role.OPERATOR, staff)
    tutor_users = people(Role.TUTOR, tutors)
    tutor_rows = Tutor.objects.bulk_create(Tutor(user=u, timezone="Asia/Tashkent") for u in tutor_users)
    starts_at = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=7)
    sessions = Session.objects.bulk_create(
        Session(
            product=product,
            tutor=tutor,
            room="Bench",
            starts_at=starts_at + timedelta(hours=n % 24, days=n // 24),
            ends_at=starts_at + timedelta(hours=n % 24, days=n // 24, minutes=60),
            capacity=students,
        )
        for n, tutor in enumerate(tutor_rows)
    )
    staff_people = [Person(user=u, cookie=log_in(u)) for u in operators]
    tutor_people = [
        Person(user=t.user, cookie=log_in(t.user), tutor=t, session=s)
        for t, s in zip(tutor_rows, sessions, strict=True)
    ]
    return staff_people, tutor_people, create_students(students)


# --- daphne -----------------------------------------------------------------------------------


class Daphne:
    """One daphne process on a free port, its standard error in a temporary file."""

    def __init__(self, redis_url: str, profile: str | None = None) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="ws-fanout-daphne-", suffix=".log", delete=False)  # noqa: SIM115
        params = psycopg_params()
        auth = params.get("user", "") + (f":{params['password']}" if params.get("password") else "")
        database_url = (
            f"postgres://{auth}@{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{params['dbname']}"
        )
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SETTINGS_MODULE": "backoffice.settings",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
        # --profile-daphne: the process runs under cProfile, which writes its figures when daphne
        # stops on SIGINT.
        self.profile = profile
        profiler = ["-m", "cProfile", "-o", profile] if profile else []
        self.process = subprocess.Popen(
            [
                sys.executable,
                *profiler,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "backoffice.asgi:application",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        wait_until_listening(self.process, self.port, self.log.name)

    def cpu_seconds(self) -> float:
        """User + system CPU of the daphne process so far (Linux /proc)."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stderr(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.profile:
            import signal

            self.process.send_signal(signal.SIGINT)
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


# --- Clients ----------------------------------------------------------------------------------


@dataclass
class Client:
    """One browser tab: its socket, and when each event it heard arrived."""

    person: Person
    ws: Any = None
    created: dict[str, float] = field(default_factory=dict)  # booking.created: key -> receipt time
    slots: dict[str, float] = field(default_factory=dict)  # slot.updated: key -> receipt time
    closed_with: int | None = None
    reader: asyncio.Task | None = None
    samples: list[dict] | None = None  # set to a list to keep the envelopes heard

    async def open(self, base: str) -> int:
        """Connect (as the page's script does: again after a refused handshake, with a growing
        delay); returns how many attempts were refused."""
        import websockets

        for refused in range(10):
            try:
                self.ws = await websockets.connect(
                    base.replace("http://", "ws://") + "/ws/notifications/",
                    origin=base,
                    additional_headers={"Cookie": self.person.cookie},
                    ping_interval=None,  # a browser never pings; daphne pings and the library answers
                    max_queue=None,
                    open_timeout=60,
                )
                break
            except (websockets.InvalidHandshake, OSError):
                # daphne refuses a handshake its application has not accepted within 5 s, which
                # happens while it is still busy with hundreds of sockets that just closed.
                await asyncio.sleep(0.5 * (refused + 1))
        else:
            fail("a socket could not connect in 10 attempts")
        hello = json.loads(await self.ws.recv())
        if hello.get("type") != "hello":
            fail(f"expected a hello, got {hello}")
        self.reader = asyncio.create_task(self.read())
        return refused

    async def read(self) -> None:
        import websockets

        try:
            async for text in self.ws:
                now = time.time()
                frame = json.loads(text)
                kind, data = frame.get("type"), frame.get("data", {})
                if kind == "booking.created":
                    self.created[data.get("bench_key") or data["reference"]] = now
                elif kind == "slot.updated":
                    self.slots[data.get("bench_key") or slot_key(data["session"], data["seats_taken"])] = now
                else:
                    continue
                if self.samples is not None:
                    self.samples.append({k: v for k, v in frame.items() if k not in ("title", "mine")})
        except websockets.ConnectionClosed:
            pass
        self.closed_with = self.ws.close_code if self.ws.close_code is not None else -1

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            await self.reader


async def open_all(clients: list[Client], base: str, batch: int = 50) -> int:
    """Open every client's socket, ``batch`` at a time; returns the handshakes refused on the way."""
    refused = 0
    for start in range(0, len(clients), batch):
        refused += sum(await asyncio.gather(*(client.open(base) for client in clients[start : start + batch])))
    return refused


# --- Load -------------------------------------------------------------------------------------


def slot_key(session_id: int, seats_taken: int) -> str:
    # Bookings of one session are made one after another here: its seat count tells them apart.
    return f"{session_id}:{seats_taken}"


@dataclass
class Sent:
    key: str  # the booking reference, or the baseline's own key
    slot: str  # the key of its slot.updated
    at: float  # commit (ours) or first group_send (baseline)
    tutor_user_id: int


@dataclass
class Phase:
    name: str
    sent: list[Sent] = field(default_factory=list)


def paced(count: int, rate: float, action: Callable[[int], None]) -> None:
    """Call ``action(i)`` for i in range(count) at ``rate`` per second (open loop: late calls do not
    shift the ones after them)."""
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        action(i)


def book_paced(phase: Phase, plan: list[tuple[Person, Any]], rate: float) -> None:
    """Our path: book() through the services, stamping each commit."""
    from django.db import connection, transaction

    from bookings.models import Session
    from bookings.services import book

    def one(i: int) -> None:
        tutor, student = plan[i]
        committed: list[float] = []
        with transaction.atomic():
            # Registered before book()'s own hooks: it runs first, at the commit, before the
            # envelopes are handed to the delivery thread.
            transaction.on_commit(lambda: committed.append(time.time()))
            booking = book(session=tutor.session, student=student)
            seats_taken = Session.objects.values_list("seats_taken", flat=True).get(pk=tutor.session.pk)
        slot = slot_key(tutor.session.pk, seats_taken)
        phase.sent.append(Sent(key=booking.reference, slot=slot, at=committed[0], tutor_user_id=tutor.user.pk))

    try:
        paced(len(plan), rate, one)
    finally:
        connection.close()


class RawSender:
    """The baseline: the channel layer's group_send, on a thread with its own loop (as the courier)."""

    def __init__(self) -> None:
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="raw-sender", daemon=True)
        self.thread.start()

    def send(self, messages: list[tuple[dict[str, Any], list[str]]]) -> None:
        async def send_all() -> None:
            for message, groups in messages:
                for group in groups:
                    await self.layer.group_send(group, message)

        asyncio.run_coroutine_threadsafe(send_all(), self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


def raw_paced(phase: Phase, plan: list[tuple[Person, Any]], rate: float, sender: RawSender, samples: list) -> None:
    """The same two envelopes per booking, as real bookings made them, straight onto the layer."""
    from realtime.delivery import LAYER_MESSAGE_TYPE

    def one(i: int) -> None:
        tutor, _ = plan[i]
        created, slot = samples[i % len(samples)]
        key = f"raw-{len(phase.sent)}"
        created = {**created, "data": {**created["data"], "bench_key": key}}
        slot = {**slot, "data": {**slot["data"], "bench_key": f"{key}-slot"}}
        session_group = f"session.{tutor.session.pk}"
        messages = [
            (
                {"type": LAYER_MESSAGE_TYPE, "event": created, "for": [tutor.user.pk]},
                ["staff", session_group, f"tutor.{tutor.user.pk}"],
            ),
            ({"type": LAYER_MESSAGE_TYPE, "event": slot, "for": []}, ["staff", session_group]),
        ]
        at = time.time()
        sender.send(messages)
        phase.sent.append(Sent(key=key, slot=f"{key}-slot", at=at, tutor_user_id=tutor.user.pk))

    paced(len(plan), rate, one)


def tally(clients: list[Client], sent: list[Sent]) -> tuple[int, int, list[float]]:
    """Deliveries owed (every staff socket: booking.created and slot.updated of each booking; a
    tutor's socket: the booking.created of their own), deliveries received, and the latency in ms
    of each booking.created received."""
    owed = got = 0
    latencies: list[float] = []
    for client in clients:
        for s in sent:
            if client.person.is_tutor:
                if s.tutor_user_id != client.person.user.pk:
                    continue
            else:
                owed += 1
                got += s.slot in client.slots
            owed += 1
            at = client.created.get(s.key)
            if at is not None:
                got += 1
                latencies.append((at - s.at) * 1000)
    return owed, got, latencies


async def drain(clients: list[Client], sent: list[Sent], seconds: float) -> None:
    """Wait until every delivery owed has arrived, or ``seconds`` passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        owed, got, _ = tally(clients, sent)
        if got >= owed:
            return
        await asyncio.sleep(0.1)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def figures(latencies: list[float]) -> str:
    return (
        f"p50 {percentile(latencies, 0.50):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms, "
        f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies, default=float('nan')):.1f} ms "
        f"({len(latencies):,} receipts)"
    )


# --- The run ----------------------------------------------------------------------------------


@dataclass
class Results:
    ours: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    ours_owed: int = 0
    ours_got: int = 0
    raw_owed: int = 0
    raw_got: int = 0
    frames: int = 0
    daphne_cpu: float = 0.0
    clients_cpu: float = 0.0  # this process: the clients, the bookings, the baseline's sends
    refused: int = 0  # handshakes daphne refused while sockets were being opened (then retried)
    errors: list[str] = field(default_factory=list)  # ERROR lines in daphne's log
    wall: float = 0.0
    closed_under_load: int = 0
    idle_owed: int = 0
    idle_got: int = 0
    idle_closed: int = 0
    idle_latencies: list[float] = field(default_factory=list)


async def run(args: argparse.Namespace, redis_url: str, results: Results) -> None:
    staff_count = args.sockets // 2
    tutor_count = args.sockets - staff_count
    idle_staff = args.idle_sockets // 2
    idle_tutors = args.idle_sockets - idle_staff
    per_phase = max(1, round(args.rate * args.seconds))
    per_round = max(1, per_phase // args.rounds)
    students_needed = 2 * per_round * args.rounds + idle_tutors + 8

    # Seeded on a thread whose connection is closed after, as every thread here closes its own.
    def seed_and_close() -> tuple[list[Person], list[Person], list[Any]]:
        from django.db import connection

        try:
            return seed(
                staff=max(staff_count, idle_staff), tutors=max(tutor_count, idle_tutors), students=students_needed
            )
        finally:
            connection.close()

    staff, tutors, students = await asyncio.to_thread(seed_and_close)
    student_iter = iter(students)

    def plan(count: int, among: list[Person]) -> list[tuple[Person, Any]]:
        return [(among[i % len(among)], next(student_iter)) for i in range(count)]

    daphne = Daphne(redis_url, profile=args.profile_daphne)
    sender = RawSender()
    try:
        clients = [Client(p) for p in staff[:staff_count] + tutors[:tutor_count]]
        print(f"opening {len(clients)} sockets ({staff_count} staff, {tutor_count} tutors) ...", flush=True)
        results.refused += await open_all(clients, daphne.base)

        # Warm-up (not measured): a few bookings; a staff socket keeps what it heard, and those real
        # envelopes are what the baseline sends.
        warmup = Phase("warm-up")
        clients[0].samples = []
        await asyncio.to_thread(book_paced, warmup, plan(4, tutors[:tutor_count]), args.rate)
        await drain(clients, warmup.sent, DRAIN_SECONDS)
        heard = clients[0].samples
        clients[0].samples = None
        samples = list(
            zip(
                [f for f in heard if f["type"] == "booking.created"],
                [f for f in heard if f["type"] == "slot.updated"],
                strict=True,
            )
        )

        ours, raw = Phase("ours"), Phase("raw")
        cpu_before, wall_before, own_before = daphne.cpu_seconds(), time.perf_counter(), sum(os.times()[:2])
        for round_no in range(args.rounds):
            print(
                f"round {round_no + 1}/{args.rounds}: {per_round} bookings through book() at {args.rate:g}/s, "
                f"then {per_round} raw group_send ...",
                flush=True,
            )
            await asyncio.to_thread(book_paced, ours, plan(per_round, tutors[:tutor_count]), args.rate)
            await drain(clients, ours.sent, DRAIN_SECONDS)
            await asyncio.to_thread(raw_paced, raw, plan(per_round, tutors[:tutor_count]), args.rate, sender, samples)
            await drain(clients, raw.sent, DRAIN_SECONDS)
        results.daphne_cpu = daphne.cpu_seconds() - cpu_before
        results.clients_cpu = sum(os.times()[:2]) - own_before
        results.wall = time.perf_counter() - wall_before
        results.ours_owed, results.ours_got, results.ours = tally(clients, ours.sent)
        results.raw_owed, results.raw_got, results.raw = tally(clients, raw.sent)
        results.frames = results.ours_got + results.raw_got
        results.closed_under_load = sum(1 for c in clients if c.closed_with is not None)
        await asyncio.gather(*(client.close() for client in clients))

        # --- Idle sockets --------------------------------------------------------------------
        idle_clients = [Client(p) for p in staff[:idle_staff] + tutors[:idle_tutors]]
        print(f"opening {len(idle_clients)} sockets and leaving them idle for {args.idle:g} s ...", flush=True)
        results.refused += await open_all(idle_clients, daphne.base)
        await asyncio.sleep(args.idle)  # the condition measured: nothing sent either way
        results.idle_closed = sum(1 for c in idle_clients if c.closed_with is not None)
        idle = Phase("idle")
        print(f"then one booking for each of the {idle_tutors} tutors among them ...", flush=True)
        await asyncio.to_thread(book_paced, idle, plan(idle_tutors, tutors[:idle_tutors]), args.rate)
        await drain(idle_clients, idle.sent, DRAIN_SECONDS)
        results.idle_owed, results.idle_got, results.idle_latencies = tally(idle_clients, idle.sent)
        results.idle_closed += sum(1 for c in idle_clients if c.closed_with is not None)
        await asyncio.gather(*(client.close() for client in idle_clients))
    except BaseException:
        print(f"bench: daphne's log ends with:\n{daphne.stderr()[-3000:]}", file=sys.stderr)
        raise
    finally:
        sender.stop()
        log = daphne.stderr()
        daphne.stop()
    results.errors = [line for line in log.splitlines() if " ERROR " in line]
    if results.errors:
        kept = Path(tempfile.gettempdir()) / "ws_fanout-daphne.log"
        kept.write_text(log)
        print(f"bench: daphne logged {len(results.errors)} error(s); its log is kept in {kept}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=SOCKETS, help="sockets under load (half staff, half tutors)")
    parser.add_argument("--rate", type=float, default=RATE, help="bookings per second")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="seconds of load per phase")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="alternations of the two phases")
    parser.add_argument("--idle", type=float, default=IDLE_SECONDS, help="seconds the idle sockets are left alone")
    parser.add_argument("--idle-sockets", type=int, default=IDLE_SOCKETS)
    parser.add_argument("--redis-db", type=int, default=REDIS_DB, help="Redis database of its own (flushed)")
    parser.add_argument("--quick", action="store_true", default=SMOKE, help="a smoke run: 20 sockets, 3 s, 10 s idle")
    parser.add_argument("--profile-daphne", metavar="FILE", help="run daphne under cProfile, figures to FILE")
    args = parser.parse_args(argv)
    if args.quick:
        args.sockets, args.seconds, args.rounds, args.idle, args.idle_sockets = 20, 3, 1, scale(10, 3), 10
    if args.sockets < 2 or args.idle_sockets < 2 or args.rounds < 1:
        parser.error("--sockets and --idle-sockets must be at least 2, --rounds at least 1")

    redis_url = bench_redis_url(args.redis_db)
    os.environ["REDIS_URL"] = redis_url  # before Django reads its settings: the layer is channels-redis
    configure("ws_fanout")
    flush_redis(redis_url)
    results = Results()
    try:
        with throwaway_database():
            env = environment()
            asyncio.run(run(args, redis_url, results))
    finally:
        flush_redis(redis_url)

    ours_lost = results.ours_owed - results.ours_got
    raw_lost = results.raw_owed - results.raw_got
    idle_lost = results.idle_owed - results.idle_got
    ours_p99, raw_p99 = percentile(results.ours, 0.99), percentile(results.raw, 0.99)
    ratio = ours_p99 / raw_p99
    frames_per_second = results.frames / results.wall
    rows = [
        *env,
        ("redis", f"{redis_url} (flushed before and after)"),
        (
            "load",
            f"{args.sockets} sockets ({args.sockets // 2} staff, {args.sockets - args.sockets // 2} tutors) on one "
            f"daphne; {args.rate:g} bookings/s, {args.seconds:g} s per phase in {args.rounds} round(s)",
        ),
        ("commit → receipt (book())", figures(results.ours)),
        ("group_send → receipt (raw)", figures(results.raw)),
        ("ratio p99 ours/raw", f"{ratio:.2f}×"),
        ("lost, ours", f"{ours_lost:,} of {results.ours_owed:,} deliveries owed"),
        ("lost, raw", f"{raw_lost:,} of {results.raw_owed:,}"),
        ("sockets closed under load", str(results.closed_under_load)),
        ("handshakes refused, retried", f"{results.refused} (while opening; none is counted as a reconnect)"),
        (
            "daphne's log",
            f"{len(results.errors)} ERROR line(s)" + (f", first: {results.errors[0]}" if results.errors else ""),
        ),
        (
            "daphne",
            f"{frames_per_second:,.0f} frames/s over {results.wall:.0f} s, CPU {results.daphne_cpu:.1f} s "
            f"({results.daphne_cpu / results.wall:.0%} of one core, "
            f"{results.daphne_cpu / max(results.frames, 1) * 1e6:.0f} µs per frame)",
        ),
        ("this process", f"CPU {results.clients_cpu:.1f} s: clients, bookings, baseline sends"),
        ("idle", f"{args.idle_sockets} sockets idle {args.idle:g} s, then one booking per tutor among them"),
        ("idle: lost / reconnects", f"{idle_lost:,} of {results.idle_owed:,} / {results.idle_closed}"),
        ("idle: commit → receipt", figures(results.idle_latencies)),
    ]
    report(
        f"ws_fanout — {args.sockets} sockets, one daphne process, channels-redis",
        rows,
        [
            Target(f"p99 ≤ {TARGET_RATIO}× raw: {ratio:.2f}×", ratio <= TARGET_RATIO),
            Target(f"0 lost under load: {ours_lost}", ours_lost == 0 and results.closed_under_load == 0),
            Target(
                f"idle: 0 lost, 0 reconnects: {idle_lost}, {results.idle_closed}", idle_lost == results.idle_closed == 0
            ),
            Target(f"no error in daphne's log: {len(results.errors)}", not results.errors),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
