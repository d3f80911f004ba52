"""Settings read from the environment: no start without a real secret key, and a clear message naming
any malformed value instead of a bare ValueError (or a silently wrong setting)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Everything the settings read, so that a test starts from nothing set (as on a fresh machine).
READ_BY_SETTINGS = (
    "SECRET_KEY",
    "DEBUG",
    "EMAIL_PORT",
    "EMAIL_USE_TLS",
    "Q_WORKERS",
    "IMPORT_MAX_ROWS",
    "SEATDESK_GENERATE_DAYS",
    "REMINDER_MAX_ATTEMPTS",
    "REMINDER_RETRY_BACKOFF",
    "PAYMENT_REMINDER_HOURS_BEFORE_EXPIRY",
    "LOG_LEVEL",
)
A_KEY = "k" * 10 + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"


def start_django(*, code: str = "import django; django.setup(); print('started')", **environ: str):
    """``django.setup()`` (or ``code``) in a fresh interpreter with the given environment on top of a
    clean one."""
    base = {name: value for name, value in os.environ.items() if name not in READ_BY_SETTINGS}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "backoffice.settings", **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("debug", ["0", ""])
def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off(debug) -> None:
    started = start_django(DEBUG=debug)

    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr
    assert "SECRET_KEY" in started.stderr
    assert "started" not in started.stdout


def test_it_starts_with_a_secret_key_and_debug_off() -> None:
    started = start_django(DEBUG="0", SECRET_KEY=A_KEY)

    assert started.returncode == 0, started.stderr
    assert "started" in started.stdout


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("EMAIL_USE_TLS", "sometimes"),
        ("EMAIL_PORT", "abc"),
        ("Q_WORKERS", "x"),
        ("Q_WORKERS", "0"),
        ("IMPORT_MAX_ROWS", "1e9x"),
        ("SEATDESK_GENERATE_DAYS", "two weeks"),
        ("REMINDER_MAX_ATTEMPTS", "5.5"),
        ("REMINDER_RETRY_BACKOFF", "soon"),
        ("PAYMENT_REMINDER_HOURS_BEFORE_EXPIRY", "nan"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_it_names_a_malformed_setting(name, value) -> None:
    started = start_django(SECRET_KEY=A_KEY, **{name: value})

    assert started.returncode != 0
    last_line = started.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured:"), started.stderr[-2000:]
    assert name in last_line and repr(value) in last_line


def test_it_reads_well_formed_values() -> None:
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.Q_CLUSTER['workers'], s.IMPORT_MAX_ROWS, "
        "s.REMINDER_RETRY_BACKOFF, s.LOGGING['root']['level'])"
    )
    base = {name: value for name, value in os.environ.items() if name not in READ_BY_SETTINGS}
    environ = {
        "SECRET_KEY": A_KEY,
        "DEBUG": " Off ",
        "EMAIL_PORT": "587",
        "EMAIL_USE_TLS": "yes",
        "Q_WORKERS": "4",
        "IMPORT_MAX_ROWS": "2000",
        "REMINDER_RETRY_BACKOFF": "2.5",
        "LOG_LEVEL": "warning",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "backoffice.settings", **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "587", "True", "4", "2000", "2.5", "WARNING"]


def test_the_embedded_default_starts_without_warnings(tmp_path) -> None:
    """`make run` on SQLite: the checks that migrate runs warn of nothing (models.W040, the
    payments' covering index that only PostgreSQL builds in full, is expected there)."""
    checked = start_django(
        code=(
            "import django; django.setup(); from django.core.management import call_command; "
            "call_command('check', databases=['default'], fail_level='WARNING'); print('clean')"
        ),
        SECRET_KEY=A_KEY,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )

    assert checked.returncode == 0, checked.stderr
    assert "W040" not in checked.stderr + checked.stdout
