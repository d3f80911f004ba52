from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backoffice.models import User
from bookings.models import ImportRecord, ImportStatus
from tests.bookings.imports.util import csv_bytes
from tests.factories import ManagerFactory

pytestmark = pytest.mark.django_db

HEADER = ["phone", "email", "first_name", "last_name"]


@pytest.fixture
def good_file(tmp_path) -> Path:
    path = tmp_path / "students.csv"
    path.write_bytes(csv_bytes([HEADER, ["901234567", "a@b.uz", "Aziz", "Karimov"], ["901234568", "", "Malika", ""]]))
    return path


@pytest.fixture
def bad_file(tmp_path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes([HEADER, ["901234567", "", "Aziz", ""], ["12ab", "", "", ""], ["", "", "x", ""]]))
    return path


def call(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_data", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_prints_counts_and_records_who(good_file):
    manager = ManagerFactory(username="boss")

    out, err = call("students", str(good_file), "--as", "boss")

    assert "2 rows — new: 2, updated: 0, skipped: 0, invalid: 0" in out
    assert "Students import of students.csv: 2 new." in out
    assert err == ""
    assert User.objects.filter(role="student").count() == 2
    record = ImportRecord.objects.get()
    assert (record.status, record.created_by, record.new, record.filename) == (
        ImportStatus.DONE,
        manager,
        2,
        "students.csv",
    )


def test_a_dry_run_writes_nothing(good_file):
    out, _ = call("students", str(good_file), "--dry-run")

    assert "dry run: nothing written" in out
    assert not User.objects.exists()
    assert not ImportRecord.objects.exists()


def test_row_errors_go_to_stderr_and_nothing_is_written(bad_file):
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_data", "students", str(bad_file), stdout=StringIO(), stderr=err)

    assert err.getvalue().splitlines() == [
        "line 3: “12ab” in phone is not a phone number.",
        "line 4: give a phone or an e-mail: a student is found by one of them.",
    ]
    assert "nothing was imported" in str(caught.value)
    assert caught.value.returncode == 1
    assert not User.objects.exists()
    assert ImportRecord.objects.get().status == ImportStatus.FAILED


def test_it_lists_the_first_thousand_row_errors_and_counts_the_rest(tmp_path):
    path = tmp_path / "many.csv"
    path.write_bytes(csv_bytes([HEADER] + [["12ab", "", "", ""]] * 1005))
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("import_data", "students", str(path), stdout=StringIO(), stderr=err)

    lines = err.getvalue().splitlines()
    assert len(lines) == 1001
    assert lines[0] == "line 2: “12ab” in phone is not a phone number."
    assert lines[-1] == "… and 5 more row errors."


def test_a_bad_file_or_user_is_an_error(tmp_path, good_file):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    with pytest.raises(CommandError, match=r"empty\.csv is empty\."):
        call("students", str(empty))
    with pytest.raises(CommandError, match="does not exist"):
        call("students", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="No user with username “ghost”"):
        call("students", str(good_file), "--as", "ghost")


def test_the_exit_codes_from_the_shell(good_file, bad_file):
    """The real process: 0 when imported (here a dry run, against the test database), 1 on row errors."""
    from django.db import connection

    from tests.servers import database_url

    if connection.vendor == "sqlite" and connection.settings_dict["NAME"] in ("", ":memory:"):
        pytest.skip("another process cannot open an in-memory SQLite test database")
    env = {"SEATDESK_TEST_DB": "", "DATABASE_URL": database_url()}
    manage = Path(__file__).resolve().parents[3] / "manage.py"

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        import os

        return subprocess.run(
            [sys.executable, str(manage), "import_data", "students", str(path), "--dry-run"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=120,
        )

    ok, bad = run(good_file), run(bad_file)

    assert ok.returncode == 0, ok.stderr
    assert bad.returncode == 1
    assert "line 3: “12ab” in phone is not a phone number." in bad.stderr
