"""Shared set-up for the benchmarks: Django on PostgreSQL, in a throw-away database of their own.

A script calls ``configure("<name>")`` before importing anything from the project, then runs its
work inside ``with throwaway_database():``. The database is ``seatdesk_bench_<name>``: it never
touches the configured database's data nor the test suite's ``test_<name>``, and it is dropped at
the end, also on error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import platform
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/test"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# BENCH_SMOKE=1 (`make bench-smoke`, tests/test_benchmarks.py): every benchmark at a tiny size, to
# show it still runs to its report. Its figures then mean nothing.
SMOKE = os.environ.get("BENCH_SMOKE", "").strip() not in ("", "0")


def scale(full: int, smoke: int) -> int:
    """A size of the real run, or of a smoke run."""
    return smoke if SMOKE else full


def configure(name: str) -> None:
    """Set up Django on PostgreSQL with ``seatdesk_bench_<name>`` as the database to create; exit 2 on SQLite."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
    if not os.environ.get("DATABASE_URL", "").strip():
        os.environ["DATABASE_URL"] = DEFAULT_DATABASE_URL
    # The benchmarks talk plain http to 127.0.0.1 (as `make run` serves): no redirect to https.
    os.environ.setdefault("HTTPS_ONLY", "0")

    import django
    from django.conf import settings

    database = settings.DATABASES["default"]
    engine = database["ENGINE"]
    if "postgresql" not in engine:
        kind = "SQLite" if "sqlite" in engine else engine
        print(
            f"bench: refusing to run on {kind}: these benchmarks measure PostgreSQL. "
            f"Set DATABASE_URL=postgres://... (default {DEFAULT_DATABASE_URL}).",
            file=sys.stderr,
        )
        sys.exit(2)
    # Django creates TEST.NAME verbatim: a name of our own, distinct from the suite's test_<name>.
    database.setdefault("TEST", {})["NAME"] = f"seatdesk_bench_{name}"
    # A query log would grow by every statement of the run and skew the figures.
    settings.DEBUG = False
    django.setup()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def throwaway_database() -> Iterator[str]:
    """Create and migrate the benchmark database; drop it afterwards whatever happens."""
    from django.db import connection, connections
    from django.test.utils import setup_databases, teardown_databases

    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    old_names = None
    try:
        old_names = setup_databases(verbosity=0, interactive=False, serialized_aliases=set())
        yield connection.settings_dict["NAME"]
    finally:
        test_name = connection.settings_dict["NAME"]
        connections.close_all()
        try:
            if old_names is not None:
                teardown_databases(old_names, verbosity=0)
            else:
                _force_drop(test_name)
        except Exception as exc:
            print(f"bench: could not drop {test_name} cleanly ({exc}); forcing it.", file=sys.stderr)
            _force_drop(test_name)
        signal.signal(signal.SIGTERM, previous)


def _force_drop(name: str) -> None:
    """Drop ``name`` even if a stray connection still holds it (PostgreSQL 13+)."""
    import psycopg
    from psycopg import sql

    if not name.startswith("seatdesk_bench_"):  # never anything but our own database
        return
    params = psycopg_params()
    params["dbname"] = "postgres"
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def psycopg_params() -> dict[str, Any]:
    """Keyword arguments for ``psycopg.connect`` to the database Django is using now."""
    from django.db import connection

    settings_dict = connection.settings_dict
    params = {
        "dbname": settings_dict["NAME"],
        "user": settings_dict.get("USER"),
        "password": settings_dict.get("PASSWORD"),
        "host": settings_dict.get("HOST"),
        "port": settings_dict.get("PORT"),
    }
    return {key: value for key, value in params.items() if value not in (None, "")}


def settle(*tables: str) -> None:
    """Start a timed phase from the same state: no dead rows, fresh statistics, no checkpoint pending.

    Without it, autovacuum or a checkpoint triggered by the previous phase lands in the next one.
    """
    from django.db import DatabaseError, connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
        # CHECKPOINT needs superuser or pg_checkpoint; without them the phase simply runs without it.
        with suppress(DatabaseError):
            cursor.execute("CHECKPOINT")


def _machine_cpu_seconds() -> float | None:
    """Busy CPU time of the whole machine (Linux ``/proc/stat``), or None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU spent by this process and by everything else (mostly PostgreSQL) while a block runs."""

    def __init__(self) -> None:
        self.process = 0.0
        self.others: float | None = None
        self._process = 0.0
        self._machine: float | None = None

    def start(self) -> None:
        self._process = _process_cpu_seconds()
        self._machine = _machine_cpu_seconds()

    def stop(self) -> None:
        self.process = _process_cpu_seconds() - self._process
        machine = _machine_cpu_seconds()
        if machine is not None and self._machine is not None:
            self.others = max(machine - self._machine - self.process, 0.0)

    def __enter__(self) -> CpuMeter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def per(self, count: int) -> str:
        """Milliseconds of CPU per unit of work."""
        text = f"this process {self.process / count * 1000:.2f} ms"
        if self.others is not None:
            text += f", rest of the machine (PostgreSQL) {self.others / count * 1000:.2f} ms"
        return text

    def total(self) -> str:
        """Seconds of CPU in all."""
        text = f"this process {self.process:.2f} s"
        if self.others is not None:
            text += f", rest of the machine (PostgreSQL) {self.others:.2f} s"
        return text


def _process_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def environment() -> list[tuple[str, str]]:
    """What the figures were measured on."""
    import django
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), current_setting('synchronous_commit')")
        version, synchronous_commit = cursor.fetchone()
    settings_dict = connection.settings_dict
    where = f"{settings_dict.get('HOST') or 'local socket'}:{settings_dict.get('PORT') or 5432}"
    return [
        (
            "database",
            f"PostgreSQL {version} at {where}, db {settings_dict['NAME']} (synchronous_commit={synchronous_commit})",
        ),
        ("machine", f"{os.cpu_count()} CPUs, Python {platform.python_version()}, Django {django.get_version()}"),
        (
            "channel layer",
            settings.CHANNEL_LAYERS["default"]["BACKEND"] + (" (REDIS_URL)" if settings.REDIS_URL else ""),
        ),
    ]


@dataclass(frozen=True)
class Target:
    label: str
    met: bool

    @property
    def verdict(self) -> str:
        return "PASS" if self.met else "MISS"


def report(title: str, rows: list[tuple[str, str]], targets: list[Target]) -> None:
    """Print the result block: figures first, then one PASS/MISS line per target."""
    width = max(len(label) for label, _ in rows)
    rule = "=" * max(len(title), 72)
    print(rule)
    print(title)
    print(rule)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print("-" * len(rule))
    for target in targets:
        print(f"  [{target.verdict}] {target.label}")
    print(rule, flush=True)


def fail(message: str) -> None:
    """A benchmark whose result is wrong is an error, not a slow result."""
    print(f"bench: ERROR: {message}", file=sys.stderr)
    raise SystemExit(1)


def create_students(count: int) -> list[Any]:
    """``count`` bare students in one bulk insert (no password hashing: they never log in)."""
    from django.utils import timezone

    from backoffice.models import Role, User

    now = timezone.now()
    return User.objects.bulk_create(
        (
            User(
                username=f"bench-student-{n}",
                first_name="Student",
                last_name=str(n),
                role=Role.STUDENT,
                password="!",
                date_joined=now,
            )
            for n in range(count)
        ),
        batch_size=2000,
    )


def bench_product(**fields: Any) -> Any:
    """The benchmarks' product: an IELTS mock at 350,000 UZS; ``fields`` override (capacity, window, price)."""
    from decimal import Decimal

    from bookings.models import Product, ProductKind, Scoring

    values: dict[str, Any] = {
        "code": "BENCH-MOCK",
        "name": "IELTS mock (bench)",
        "kind": ProductKind.EXAM,
        "duration_minutes": 180,
        "price": Decimal("350000"),
        "scoring": Scoring.IELTS_BAND,
    }
    return Product.objects.create(**(values | fields))


def log_in(user: Any) -> str:
    """A login session as Django's ``login()`` writes it; returns the cookie header value."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def wait_until_listening(process: Any, port: int, log: str | Path, *, seconds: float = 60) -> None:
    """Wait for a server ``process`` (a ``subprocess.Popen``) to accept connections on ``port``;
    fail with the end of its ``log`` if it exits or is not listening within ``seconds``."""
    import socket

    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            fail(f"the server exited: {Path(log).read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                fail(f"the server did not listen on port {port} within {seconds:.0f} s")
            time.sleep(0.1)


class DaphneServer:
    """One daphne process serving the project from the benchmark's database, on a free local port,
    its stderr kept in a temporary log (``stderr()``); ``stop()`` ends it and removes the log.
    ``environ`` adds to the server's environment (a provider's credentials)."""

    def __init__(self, name: str, **environ: str) -> None:
        import socket
        import subprocess
        import tempfile

        params = psycopg_params()
        auth = params.get("user", "") + (f":{params['password']}" if params.get("password") else "")
        host, port = params.get("host", "127.0.0.1"), params.get("port", 5432)
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{auth}@{host}:{port}/{params['dbname']}",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SETTINGS_MODULE": "backoffice.settings",
            "DEBUG": "0",
            "HTTPS_ONLY": "0",  # plain HTTP on 127.0.0.1, as behind the TLS proxy
            "LOG_LEVEL": "WARNING",  # a line per request is the log's job, not the benchmark's
            **environ,
        }
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log = tempfile.NamedTemporaryFile(prefix=f"{name}-daphne-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "backoffice.asgi:application"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        wait_until_listening(self.process, self.port, self.log.name)

    def stderr(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        import subprocess

        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def profiled(call: Any, times: int, *, only: str) -> str:
    """A cProfile of ``times`` calls of ``call``: by cumulative time the functions whose file
    matches ``only`` (a regular expression), then the 25 costliest by their own time."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(times):
        call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(only, 50)
    stats.sort_stats("tottime").print_stats(25)
    return out.getvalue()
