"""`make run` on a fresh machine: a local secret key is made once and every step gets it.

The Makefile runs in a temporary directory with a stand-in virtualenv whose ``python`` and ``honcho``
record their arguments and environment instead of starting Django, so this checks what make hands
each step, not Django itself (tests/backoffice/test_settings_env.py covers the settings).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDER = """#!/bin/sh
echo "$(basename "$0") $* | key=$SECRET_KEY | https_only=${HTTPS_ONLY-unset}" >> "$(dirname "$0")/../../calls.log"
"""

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the Makefile and Procfile next to an already installed stand-in virtualenv."""
    for name in ("Makefile", "Procfile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "honcho"):
        (bin_dir / tool).write_text(RECORDER)
        (bin_dir / tool).chmod(0o755)
    for stamp in (".runtime-installed", ".dev-installed"):
        (tmp_path / ".venv" / stamp).touch()
        later = (tmp_path / "requirements.txt").stat().st_mtime + 10
        os.utime(tmp_path / ".venv" / stamp, (later, later))
    return tmp_path


def make_run(checkout: Path, **environ: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "HTTPS_ONLY", "MAKEFLAGS", "MAKELEVEL"}}
    done = subprocess.run(
        ["make", "run", f"PYTHON={sys.executable}"],
        cwd=checkout,
        env={**base, **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    calls = (checkout / "calls.log").read_text().splitlines()
    (checkout / "calls.log").unlink()
    return calls


def test_it_makes_a_private_key_once_and_hands_it_to_every_step(checkout: Path) -> None:
    calls = make_run(checkout)

    key_file = checkout / ".secret_key"
    key = key_file.read_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{60,}", key)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [call.split(" | ")[0] for call in calls] == [
        "python manage.py migrate --noinput -v0",
        "python manage.py collectstatic --noinput -v0",
        "python manage.py setup_schedules",
        "python manage.py seed_demo --demo-passwords",
        "honcho start -f Procfile",
    ]
    assert all(f"key={key} |" in call for call in calls)
    assert all(call.endswith("https_only=0") for call in calls)

    assert make_run(checkout) == calls
    assert key_file.read_text().strip() == key


def test_it_uses_a_secret_key_from_the_environment(checkout: Path) -> None:
    calls = make_run(checkout, SECRET_KEY="from-the-environment-" + "x" * 40)

    assert calls and all("key=from-the-environment-" in call for call in calls)


def test_it_keeps_the_key_file_out_of_git() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".secret_key"], cwd=ROOT)

    assert ignored.returncode == 0
