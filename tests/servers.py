"""A real daphne process serving the project against the test database, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The test database (not the configured one) as a DATABASE_URL for another process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db.get("USER") or ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Daphne:
    base: str  # http://127.0.0.1:<port>
    log: Path  # daphne's standard error, for tests that look at what it logged
    pid: int = 0  # the daphne process, for tests that read its /proc entries

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def daphne() -> Iterator[str]:
    """Start daphne on a free port; yields its base URL (http://127.0.0.1:<port>)."""
    with daphne_server() as server:
        yield server.base


@contextmanager
def daphne_server() -> Iterator[Daphne]:
    """Start daphne on a free port; yields its base URL and the file its standard error goes to.

    Standard error goes to a file, not a pipe: nobody reads a pipe while the test runs, and a
    server logging tracebacks would block once the pipe's 64 KB buffer filled.
    """
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
    }
    log = tempfile.NamedTemporaryFile(prefix="daphne-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "backoffice.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    server = Daphne(base=f"http://127.0.0.1:{port}", log=Path(log.name), pid=process.pid)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"daphne exited: {server.stderr()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("daphne did not start within 30 s") from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        server.log.unlink(missing_ok=True)
