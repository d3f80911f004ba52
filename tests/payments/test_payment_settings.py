"""The payment settings are read and checked at start-up: a malformed allow-list stops the start with a
message naming it, rather than refusing (or admitting) providers at the first callback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAYMENT_SETTINGS = ("PAYMENT_ALLOWED_IPS", "PAYMENT_MAX_BODY_BYTES", "PAYME_TEST_MODE", "PAYME_KEY", "PAYME_TEST_KEY")
SHOW = (
    "from django.conf import settings as s; print(s.PAYMENT_ALLOWED_IPS, s.PAYME_TEST_MODE, s.PAYMENT_MAX_BODY_BYTES)"
)


def start(**environ: str) -> subprocess.CompletedProcess[str]:
    base = {name: value for name, value in os.environ.items() if name not in PAYMENT_SETTINGS}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {SHOW}"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "backoffice.settings", "SECRET_KEY": "k" * 50, **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_reads_the_payment_settings() -> None:
    started = start(PAYMENT_ALLOWED_IPS="185.234.113.0/28, 10.1.2.3", PAYME_TEST_MODE="1")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "['185.234.113.0/28', '10.1.2.3'] True 16384"


@pytest.mark.parametrize(
    ("name", "value"),
    [("PAYMENT_ALLOWED_IPS", "185.234.113.300"), ("PAYMENT_MAX_BODY_BYTES", "10"), ("PAYME_TEST_MODE", "maybe")],
)
def test_a_malformed_value_stops_the_start_naming_it(name: str, value: str) -> None:
    started = start(**{name: value})
    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr
    assert name in started.stderr
