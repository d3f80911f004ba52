"""Previews of big files, checked by the django-q2 worker (issue 12).

Checking a file is reading it and planning every row against the database: 100,000 rows of
bookings take ~20 s from a CSV and over a minute from an XLSX (bench/uploads.py). That is too
long to hold a web request and the web process, so a file bigger than
``IMPORT_PREVIEW_INLINE_BYTES`` is checked by the worker: the admin stages it, queues
``bookings.tasks.preview_import`` and shows a page that refreshes itself with the worker's
progress until the preview (counts, row errors, the first rows) is there -- the same page a
small file gets at once.

The state of a queued check lives next to the staged file, as ``<staged name>.json`` in the
media storage, so any web process can show it and the confirm works as for a small file:
``{"user", "kind", "filename", "state": queued|running|done, "progress", "updated", "report"}``.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from bookings.imports.parsing import ZIP_MAGIC
from bookings.imports.report import ImportReport
from bookings.imports.runner import run_import

logger = logging.getLogger(__name__)

TASK = "bookings.tasks.preview_import"
STAGING_DIR = "imports/staged"
# A staged upload: uuid4().hex and the file's own extension. Its state file (".json" added) never
# matches, so it can never be confirmed as an upload.
STAGED_NAME = re.compile(r"^[0-9a-f]{32}(\.[a-z0-9]{1,8})?$")
# A check is read-only and safe to run twice, so it may take longer than the cluster's default
# limit (Q_CLUSTER["timeout"], 120 s, which a real import keeps): the largest workbook allowed
# took up to ~100 s to read on a loaded 2-core machine (bench/uploads.py).
TIMEOUT = 600
# A check whose state has not moved for this long (it moves every PROGRESS_EVERY rows, seconds
# apart) belongs to a worker that died or gave up.
STALE_AFTER = timedelta(seconds=TIMEOUT + 60)
# Another run of the same check, re-delivered by the broker, leaves a check this fresh alone.
BUSY_WITHIN = timedelta(seconds=60)


class PreviewNotQueued(Exception):
    """The task queue could not be reached; ``message`` says so, for a person."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def staged_path(name: str) -> str:
    if not STAGED_NAME.match(name):  # a form or the task checked it; never a path from outside
        raise ValueError(name)
    return f"{STAGING_DIR}/{name}"


def state_path(name: str) -> str:
    return f"{staged_path(name)}.json"


def work_size(upload: IO[bytes], size: int) -> int:
    """What checking the file costs, in bytes to parse: a CSV's size, or what a workbook unpacks to
    (a 300 KB XLSX can hold 10,000 rows, which openpyxl reads ~30 times slower than a CSV's)."""
    upload.seek(0)
    head = upload.read(4)
    upload.seek(0)
    if head != ZIP_MAGIC:
        return size
    try:
        return sum(member.file_size for member in zipfile.ZipFile(upload).infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return size  # the check itself says what is wrong with it
    finally:
        upload.seek(0)


def checked_in_worker(upload: IO[bytes], size: int) -> bool:
    return work_size(upload, size) > settings.IMPORT_PREVIEW_INLINE_BYTES


def queue_preview(*, kind: str, staged: str, filename: str, actor: Any) -> None:
    """Queue the check of a staged upload; raise PreviewNotQueued when the queue is unreachable."""
    from django_q.tasks import async_task

    _write(staged, {"user": actor.pk, "kind": kind, "filename": filename, "state": "queued", "progress": ""})
    try:
        # No transaction to wait for: the state is a file, and the staged upload is already stored.
        async_task(TASK, kind, staged, filename, actor.pk, task_name=f"import-preview-{staged[:32]}", timeout=TIMEOUT)
    except Exception as exc:
        logger.warning("Preview of %s could not be queued (%s: %s)", filename, type(exc).__name__, exc)
        discard(staged)
        raise PreviewNotQueued(
            f"{PurePosixPath(filename).name} could not be checked: the task queue is unreachable (Redis may be "
            "down). Nothing was imported: upload the file again in a few minutes."
        ) from None


def run_preview(kind: str, staged: str, filename: str, actor_id: int) -> dict[str, Any]:
    """The worker's side: check the staged file (a dry run), reporting progress, and keep the report.

    Safe to run twice: a check already done is not done again, and a staged file that is gone
    (confirmed, or older than a day) is nothing to check.
    """
    state = read_state(staged)
    if state is None or state["state"] == "done" or (state["state"] == "running" and _age(state) < BUSY_WITHIN):
        return {"staged": staged, "ran": False}
    actor = get_user_model().objects.filter(pk=actor_id).first()

    def progress(text: str) -> None:
        _write(staged, {**state, "state": "running", "progress": text})

    progress("Reading the file…")
    try:
        with default_storage.open(staged_path(staged), "rb") as source:
            report = run_import(kind, source, filename=filename, actor=actor, dry_run=True, progress=progress)
    except FileNotFoundError:
        return {"staged": staged, "ran": False}
    except Exception as exc:
        # The person is told on the page; retrying would fail the same way.
        logger.exception("Preview of %s failed", filename)
        report = ImportReport(kind=kind, filename=PurePosixPath(filename).name, dry_run=True)
        report.file_error = f"The check stopped with an error: {exc}"
    _write(staged, {**state, "state": "done", "progress": "", "report": report.as_dict()})
    if not (report.ok and report.total):
        default_storage.delete(staged_path(staged))  # nothing to confirm: only the verdict is kept
    return {"staged": staged, "ran": True, "ok": report.ok, "total": report.total, **report.counts}


def read_state(staged: str) -> dict[str, Any] | None:
    try:
        with default_storage.open(state_path(staged), "rb") as handle:
            return json.loads(handle.read())
    except (FileNotFoundError, ValueError):
        return None


def is_stale(state: dict[str, Any]) -> bool:
    """A check queued or running that stopped moving: its worker died, or the queue lost it."""
    return state["state"] != "done" and _age(state) > STALE_AFTER


def _age(state: dict[str, Any]) -> timedelta:
    return timezone.now() - datetime.fromisoformat(state["updated"])


def discard(staged: str) -> None:
    """Forget a staged upload and its check."""
    for path in (staged_path(staged), state_path(staged)):
        default_storage.delete(path)


def _write(staged: str, state: dict[str, Any]) -> None:
    state = {**state, "updated": timezone.now().isoformat()}
    path = state_path(staged)
    # Replaced whole (delete, then save under the same name), so a reader sees one state or the other.
    default_storage.delete(path)
    default_storage.save(path, ContentFile(json.dumps(state).encode()))
