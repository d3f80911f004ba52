from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from backoffice.models import User
from bookings import tasks
from bookings.imports import KINDS, execute_import_record, queue_import, read_table, run_import, template_file
from bookings.models import ImportRecord, ImportStatus
from realtime.models import Notification
from tests.bookings.imports.util import csv_bytes
from tests.factories import OperatorFactory

pytestmark = pytest.mark.django_db

GOOD = csv_bytes([["phone", "first_name"], ["901234567", "Aziz"], ["901234568", "Malika"]])
BAD = csv_bytes([["phone", "first_name"], ["901234567", "Aziz"], ["nope", "Malika"]])


def upload(data: bytes, name: str = "term.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_queue_import_keeps_the_file_and_enqueues_the_task_after_commit(
    operator, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: calls.append((args, kwargs)))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record = queue_import("students", upload(GOOD), actor=operator)
        assert calls == []  # not before the commit: the worker would not find the record

    for callback in callbacks:
        callback()
    assert calls == [(("bookings.tasks.run_import_record", record.pk), {"task_name": f"import-{record.pk}"})]
    record.refresh_from_db()
    assert (record.status, record.kind, record.filename, record.created_by) == (
        ImportStatus.QUEUED,
        "students",
        "term.csv",
        operator,
    )
    assert record.file.name.startswith(f"imports/{timezone.now():%Y/%m}/")
    with record.file.open("rb") as handle:
        assert handle.read() == GOOD


def test_the_task_runs_it_once_even_when_run_twice(operator):
    record = queue_import("students", upload(GOOD), actor=operator)

    first = tasks.run_import_record(record.pk)
    second = tasks.run_import_record(record.pk)

    assert first == {
        "record": record.pk,
        "ran": True,
        "ok": True,
        "total": 2,
        "new": 2,
        "updated": 0,
        "skipped": 0,
        "invalid": 0,
    }
    assert second == {"record": record.pk, "ran": False}
    assert User.objects.filter(role="student").count() == 2
    record.refresh_from_db()
    assert record.status == ImportStatus.DONE
    assert record.started_at is not None and record.finished_at >= record.started_at
    assert (record.total, record.new, record.errors) == (2, 2, [])
    assert Notification.objects.filter(recipient=operator, type="import.finished").count() == 1


def test_the_task_runs_through_django_q(operator, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)

    with django_capture_on_commit_callbacks(execute=True):
        record = queue_import("students", upload(GOOD), actor=operator)

    record.refresh_from_db()
    assert record.status == ImportStatus.DONE
    assert User.objects.filter(role="student").count() == 2


def test_it_moves_from_queued_to_running_before_it_works(operator, monkeypatch):
    record = queue_import("students", upload(GOOD), actor=operator)
    seen = []

    def spy(*args, **kwargs):
        seen.append(ImportRecord.objects.get(pk=record.pk).status)
        return run_import(*args, **kwargs)

    monkeypatch.setattr("bookings.imports.runner.run_import", spy)
    execute_import_record(record.pk)

    assert seen == [ImportStatus.RUNNING]
    assert ImportRecord.objects.get(pk=record.pk).status == ImportStatus.DONE


def test_a_run_left_running_by_a_dead_worker_is_taken_over_by_the_retry(operator, settings):
    record = queue_import("students", upload(GOOD), actor=operator)
    limit = timedelta(seconds=settings.Q_CLUSTER["timeout"])
    # A worker took it and died: its transaction rolled back, the record still says running.
    ImportRecord.objects.filter(pk=record.pk).update(
        status=ImportStatus.RUNNING, started_at=timezone.now() - limit + timedelta(seconds=5)
    )
    assert execute_import_record(record.pk) is None  # within the time limit: it may still be working
    assert not User.objects.filter(role="student").exists()

    ImportRecord.objects.filter(pk=record.pk).update(started_at=timezone.now() - limit - timedelta(seconds=1))
    report = execute_import_record(record.pk)

    assert report is not None and report.ok
    record.refresh_from_db()
    assert (record.status, record.new) == (ImportStatus.DONE, 2)
    assert User.objects.filter(role="student").count() == 2
    assert execute_import_record(record.pk) is None  # done stays done


def test_a_file_over_the_row_limit_is_refused_whole(operator, settings):
    settings.IMPORT_MAX_ROWS = 2
    rows = [["phone", "first_name"], ["901234567", "Aziz"], ["901234568", "Malika"], ["901234569", "Olim"]]

    report = run_import("students", csv_bytes(rows), filename="big.csv", actor=operator, dry_run=False)

    assert report.file_error == (
        "big.csv has more than 2 rows (blank rows count too): split it into files of at most 2 rows "
        "(one import must finish inside the worker's time limit)."
    )
    assert not User.objects.filter(role="student").exists()
    assert ImportRecord.objects.get().status == ImportStatus.FAILED


def test_a_failed_import_is_recorded_and_announced(operator):
    record = queue_import("students", upload(BAD), actor=operator)

    report = execute_import_record(record.pk)

    assert report is not None and not report.ok
    record.refresh_from_db()
    assert (record.status, record.new, record.invalid) == (ImportStatus.FAILED, 1, 1)
    assert record.errors == [{"line": 3, "column": "phone", "message": "“nope” in phone is not a phone number."}]
    assert not User.objects.filter(role="student").exists()
    note = Notification.objects.get(recipient=operator, type="import.finished")
    assert note.data["data"]["status"] == "failed"
    assert "nothing was imported" in note.message


def test_an_exception_fails_the_record_with_its_text(operator, monkeypatch):
    record = queue_import("students", upload(GOOD), actor=operator)

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("bookings.imports.runner.run_import", boom)
    assert execute_import_record(record.pk) is None

    record.refresh_from_db()
    assert (record.status, record.message) == (ImportStatus.FAILED, "The import stopped with an error: disk on fire")
    assert Notification.objects.get(recipient=operator).data["data"]["status"] == "failed"


def test_the_record_reads_well():
    record = ImportRecord(kind="bookings", filename="term.csv", created_at=timezone.now())
    local = timezone.localtime(record.created_at)
    assert str(record) == f"Bookings import · term.csv · {local:%d %b %Y %H:%M}"


def test_only_the_last_200_errors_are_kept(operator):
    rows = [["phone"]] + [["nope"]] * 250

    report = run_import("students", csv_bytes(rows), filename="s.csv", actor=operator, dry_run=False)

    assert len(report.errors) == 250 and report.counts["invalid"] == 250
    assert len(report.preview) == 200
    record = ImportRecord.objects.get()
    assert (record.invalid, len(record.errors)) == (250, 200)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_each_template_has_the_columns_and_an_example_row(kind, fmt):
    content, content_type, filename = template_file(kind, fmt)

    table = read_table(content, filename=filename)

    assert filename == f"seatdesk-{kind}-template.{fmt}"
    assert content_type.startswith("text/csv" if fmt == "csv" else "application/vnd.openxml")
    assert table.headers == [column.name for column in KINDS[kind].columns]
    [(line, row)] = list(table.rows)
    assert line == 2 and row == {c.name: c.example for c in KINDS[kind].columns}


def test_the_students_template_imports_as_is():
    content, _, filename = template_file("students", "csv")

    report = run_import("students", content, filename=filename, actor=None, dry_run=True)

    assert report.ok and report.counts["new"] == 1


def test_recorded_import_counts_match_the_report(operator):
    colleague = OperatorFactory()  # another member of the desk: hears of it too (issue 14)
    report = run_import("students", GOOD, filename="term.csv", actor=operator, dry_run=False)

    assert report.record is not None
    assert report.record.created_by == operator
    assert report.record.finished_at - report.record.started_at < timedelta(minutes=1)
    notified = Notification.objects.filter(type="import.finished").values_list("recipient_id", flat=True)
    assert sorted(notified) == sorted([operator.pk, colleague.pk])  # once each
