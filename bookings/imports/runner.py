"""Running an import: read the file, check every row, write all or nothing, record and announce it.

The admin's preview (dry run), its confirm step, the django-q2 task and ``import_data`` all call
``run_import``: one code path, so a dry run predicts exactly what the real run does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from bookings.errors import BookingError
from bookings.imports.base import Importer, Plan, RowInvalid
from bookings.imports.parsing import ImportFileError, Row, Source, read_table
from bookings.imports.registry import KINDS
from bookings.imports.report import ImportReport, RowError, clip
from bookings.models import ImportRecord, ImportStatus
from bookings.models.imports import MAX_RECORDED_ERRORS
from realtime.events import publish, staff_group, staff_recipients

logger = logging.getLogger(__name__)

TASK = "bookings.tasks.run_import_record"
PROGRESS_EVERY = 5000  # rows between two progress reports


def importer_for(kind: str) -> type[Importer[Any]]:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"“{kind}” is not an import: use one of {', '.join(KINDS)}.") from None


def run_import(
    kind: str,
    source: Source,
    *,
    filename: str,
    actor: Any,
    dry_run: bool,
    record: ImportRecord | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import ``source`` as ``kind``; returns what was (or, for a dry run, would be) done.

    Every row is checked and every problem reported. A real run writes only when no row is
    invalid, in one transaction, checking the rows again inside it; a real run is recorded in an
    ``ImportRecord`` (``record`` if given) and announced with ``import.finished``, failed or not.
    ``progress`` is told, in words, how far the reading and checking have got.
    """
    importer_class = importer_for(kind)
    report = ImportReport(kind=kind, filename=Path(filename).name, dry_run=dry_run, label=importer_class.label)
    importer = importer_class(actor=actor, now=timezone.now())
    try:
        rows = _read(importer, source, filename, report, progress)
    except ImportFileError as exc:
        report.file_error = exc.message
    else:
        if progress is not None:
            progress(f"Checking {report.total:,} rows against the database…")
        if dry_run:
            _check(importer, rows, report)
            return report
        if _check_and_write(importer_class, importer, rows, report, source=source, filename=filename, record=record):
            return report
    if not dry_run:
        _finish(report, actor=actor, record=record)
    return report


# A parsed row: (line, item) or, when it did not parse, (line, (problem, description)).
Parsed = tuple[int, Any, bool]


def _read(
    importer: Importer[Any],
    source: Source,
    filename: str,
    report: ImportReport,
    progress: Callable[[str], None] | None = None,
) -> list[Parsed]:
    """Every row parsed (or its problem), in file order; ``report.total`` counts them.

    ``read_table`` enforces the file's limits (size, parts, rows); the cells' are row errors here.
    """
    table = read_table(source, filename=filename, columns=[column.name for column in importer.columns])
    importer.check_headers(table.headers, report.filename)
    report.total = 0
    parsed: list[Parsed] = []
    for line, row in table.rows:
        report.total += 1
        if progress is not None and not report.total % PROGRESS_EVERY:
            progress(f"Read {report.total:,} rows…")
        try:
            _check_cells(row)
            parsed.append((line, importer.parse(line, row), True))
        except RowInvalid as exc:
            parsed.append((line, (exc, importer.describe(None, _shown(row))), False))
    return parsed


def _check_cells(row: Row) -> None:
    """What no column may hold: more than IMPORT_MAX_CELL_CHARS (read_table cut it one over), or
    NUL, which PostgreSQL cannot store (the confirmed import would stop in the worker)."""
    longest = settings.IMPORT_MAX_CELL_CHARS
    problems = [
        (column, f"{column} has more than {longest:,} characters: a cell holds at most {longest:,}.")
        if len(value) > longest
        else (column, f"{column} contains a NUL character, which cannot be stored: remove it.")
        for column, value in row.items()
        if len(value) > longest or "\x00" in value
    ]
    if problems:
        (column, message), *more = problems
        raise RowInvalid(message, column, more=more)


def _shown(row: Row) -> Row:
    """The row as the preview describes it: each cell clipped to what a message repeats."""
    return {column: clip(value) for column, value in row.items()}


def _check(importer: Importer[Any], rows: list[Parsed], report: ImportReport) -> list[Plan[Any]]:
    """Decide every row, in file order; returns the plans of the rows to write."""
    importer.preload([item for _, item, ok in rows if ok])
    plans: list[Plan[Any]] = []
    for line, item, ok in rows:
        if not ok:
            problem, description = item
            _reject(report, line, problem, description)
            continue
        try:
            plan = importer.plan(line, item)
        except RowInvalid as exc:
            _reject(report, line, exc, importer.describe(item, None))
            continue
        report.add(line, plan.action, plan.summary, plan.message)
        if plan.action in ("new", "updated"):
            plan.summary = ""  # kept by the preview if shown; 50,000 of them need not wait for the write
            plans.append(plan)
    return plans


def _reject(report: ImportReport, line: int, problem: RowInvalid, description: str) -> None:
    for column, message in problem.problems():
        report.add_error(RowError(line, column, message), description)


def _check_and_write(
    importer_class: type[Importer[Any]],
    importer: Importer[Any],
    rows: list[Parsed],
    report: ImportReport,
    *,
    source: Source,
    filename: str,
    record: ImportRecord | None,
) -> bool:
    """Check and, when every row is valid, write -- in one transaction. True if it was written (and recorded)."""
    actor = importer.actor
    try:
        with transaction.atomic():
            # Checked inside the transaction: what the preview saw may have changed since.
            plans = _check(importer, rows, report)
            if not report.ok:
                return False
            rows.clear()  # the plans hold what the write needs; a re-check below reads the file again
            importer.write(plans)
            _finish(report, actor=actor, record=record)
            return True
    except (BookingError, IntegrityError) as exc:
        # A change committed between our reads and our writes (the last seat booked at the desk, a
        # session added): everything above is rolled back. Check again on what is there now, so
        # the person sees which rows it hit.
        logger.info("Import of %s rolled back: %s", report.filename, exc)
        report.reset()
        again = importer_class(actor=actor, now=timezone.now())
        _check(again, _read(again, source, filename, report), report)
        if report.ok:
            report.file_error = (
                f"The data changed while the file was imported ({getattr(exc, 'message', exc)}). "
                "Nothing was written: run the import again."
            )
        return False


def _finish(report: ImportReport, *, actor: Any, record: ImportRecord | None) -> None:
    """Record a real run and publish ``import.finished`` (after commit) to staff and the person who ran it."""
    now = timezone.now()
    if record is None:
        record = ImportRecord(
            kind=report.kind,
            filename=report.filename,
            created_by=actor if getattr(actor, "pk", None) else None,
            created_at=now,
            started_at=now,
        )
    record.status = ImportStatus.DONE if report.ok else ImportStatus.FAILED
    record.total = report.total
    for name, count in report.counts.items():
        setattr(record, name, count)
    record.errors = [error.as_dict() for error in report.errors[:MAX_RECORDED_ERRORS]]
    record.message = report.file_error or ""
    record.finished_at = now
    record.save()
    report.record = record
    publish_finished(record, summary=report.summary)


def publish_finished(record: ImportRecord, *, summary: str) -> None:
    publish(
        "import.finished",
        {
            "record": record.pk,
            "kind": record.kind,
            "filename": record.filename,
            "status": record.status,
            "total": record.total,
            "counts": {name: getattr(record, name) for name in ("new", "updated", "skipped", "invalid")},
            "summary": summary,
        },
        groups=[staff_group()],
        # Every operator and manager finds it in their bell, not only the person who ran it.
        recipients=[*staff_recipients(), record.created_by_id],
    )


# --- Queued imports (django-q2) --------------------------------------------------------------


def queue_import(kind: str, uploaded_file: IO[bytes] | File | bytes, *, actor: Any, filename: str = "") -> ImportRecord:
    """Keep the file in a new ImportRecord (status queued) and run it in the background, after commit.

    For big files: the admin answers at once and the person gets ``import.finished`` when it is done.
    """
    importer_for(kind)
    name = Path(filename or getattr(uploaded_file, "name", "") or f"{kind}.csv").name
    content = ContentFile(uploaded_file) if isinstance(uploaded_file, bytes) else File(uploaded_file)
    record = ImportRecord(
        kind=kind, filename=name, status=ImportStatus.QUEUED, created_by=actor if getattr(actor, "pk", None) else None
    )
    record.file.save(name, content, save=False)
    record.save()
    # After commit: a worker that picked the task up before the commit would not find the record.
    transaction.on_commit(lambda: _enqueue(record.pk))
    return record


QUEUE_DOWN = (
    "The import could not be queued: the task queue is unreachable (Redis may be down). "
    "Nothing was imported: upload the file again in a few minutes."
)


def _enqueue(record_id: int) -> None:
    from django_q.tasks import async_task

    try:
        async_task(TASK, record_id, task_name=f"import-{record_id}")
    except Exception as exc:
        # The broker is down (Redis refused or timed out). The record is committed: mark it failed
        # and tell the person, as for any failed import, rather than leave it queued for ever and
        # answer the confirm with a 500.
        logger.warning("Import record %s could not be queued (%s: %s)", record_id, type(exc).__name__, exc)
        record = ImportRecord.objects.select_related("created_by").get(pk=record_id)
        record.status = ImportStatus.FAILED
        record.message = QUEUE_DOWN
        record.finished_at = timezone.now()
        record.save(update_fields=["status", "message", "finished_at"])
        publish_finished(record, summary=f"{record.get_kind_display()} import of {record.filename}: {QUEUE_DOWN}")


def execute_import_record(record_id: int) -> ImportReport | None:
    """Run a queued import. Safe to run twice: only the run that moves it from queued to running works.

    A record left "running" longer than the worker's time limit belongs to a worker that died or
    was stopped: its transaction was rolled back, so django-q2's retry of the task takes it over.

    Returns the report, or None when another run had it already.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.Q_CLUSTER["timeout"])
    runnable = Q(status=ImportStatus.QUEUED) | Q(status=ImportStatus.RUNNING, started_at__lt=stale)
    if not ImportRecord.objects.filter(runnable, pk=record_id).update(status=ImportStatus.RUNNING, started_at=now):
        return None
    record = ImportRecord.objects.select_related("created_by").get(pk=record_id)
    try:
        # Read as a stream; read_table checks its size first, as for an upload or the command.
        with record.file.open("rb") as handle:
            return run_import(
                record.kind, handle, filename=record.filename, actor=record.created_by, dry_run=False, record=record
            )
    except Exception as exc:
        # The person is told and the record shows it; retrying would fail the same way.
        logger.exception("Import record %s failed", record_id)
        record.status = ImportStatus.FAILED
        record.message = f"The import stopped with an error: {exc}"
        record.finished_at = timezone.now()
        record.save(update_fields=["status", "message", "finished_at"])
        publish_finished(record, summary=f"{record.get_kind_display()} import of {record.filename} failed: {exc}")
        return None
