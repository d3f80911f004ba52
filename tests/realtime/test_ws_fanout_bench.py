"""bench/ws_fanout.py at a tiny size, so the benchmark cannot rot between the runs that measure."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]


def test_the_fanout_benchmark_runs_tiny_and_loses_nothing():
    configured_db = (urlsplit(os.environ["REDIS_URL"]).path or "/0").strip("/") or "0"
    bench_db = "9" if configured_db != "9" else "10"  # never the suite's own Redis database
    finished = subprocess.run(
        [sys.executable, "bench/ws_fanout.py", "--quick", "--idle", "2", "--redis-db", bench_db],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    out = finished.stdout
    assert re.search(r"lost, ours +0 of [1-9]", out), out
    assert "[PASS] 0 lost under load: 0" in out, out
    assert "[PASS] idle: 0 lost, 0 reconnects: 0, 0" in out, out
