"""`make bench` runs every benchmark to its report: each one here at a tiny size (BENCH_SMOKE=1), on
PostgreSQL (and Redis where it uses it), in its own throw-away database. A benchmark broken by a
change elsewhere (a new NOT NULL column its seed SQL does not fill, an index that became a
migration) fails here instead of stopping `make bench` halfway. The figures of a smoke run mean
nothing; only that the run reaches its targets' verdicts does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# ws_fanout has its own tiny run with stricter checks (tests/realtime/test_ws_fanout_bench.py); the two
# at once would share its throw-away database and Redis database.
OWN_TEST = {"ws_fanout"}
BENCHMARKS = sorted(path.stem for path in (ROOT / "bench").glob("[a-z]*.py") if path.stem not in OWN_TEST)
VERDICT = re.compile(r"^  \[(PASS|MISS)\] ", re.MULTILINE)

pytestmark = pytest.mark.postgres


def test_every_benchmark_is_run_by_a_test():
    assert {"admin_changelist", "admin_pages", "api", "dashboard", "payment_callbacks"} <= set(BENCHMARKS)
    assert (ROOT / "tests" / "realtime" / "test_ws_fanout_bench.py").exists()


@pytest.mark.parametrize("name", BENCHMARKS)
def test_the_benchmark_runs_to_its_report(name):
    environ = {**os.environ, "BENCH_SMOKE": "1"}
    environ.pop("REDIS_URL", None)  # the suite's Redis database stays the suite's; these run without it

    run = subprocess.run(
        [sys.executable, f"bench/{name}.py"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300
    )

    assert run.returncode == 0, run.stderr[-3000:]
    assert "bench: ERROR" not in run.stderr
    assert VERDICT.search(run.stdout), run.stdout[-2000:]
