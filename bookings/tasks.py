"""django-q2 tasks: the centre's clockwork. Thin wrappers over the services, scheduled by ``bookings.schedules``.

Each returns a small summary (kept in django-q2's task results). Every service underneath moves
rows with a compare-and-set on their status (or a claim), so a task run twice, or on two clusters
at once, does each piece of work once.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from bookings import services

# Reminders handled per run; the rest wait a minute for the next run, so one run stays well inside
# Q_CLUSTER["timeout"].
REMINDER_LIMIT = 2000


def expire_pending_bookings() -> dict[str, int]:
    """Every minute, twice: cancel unpaid bookings past their deadline (e-mail, ``booking.expired``,
    ``slot.updated``). Two schedules 30 s apart keep every booking within a minute of its deadline
    (the argument is in ``bookings.schedules``); a run with nothing due is one indexed query."""
    return {"expired": services.expire_due()}


def send_due_reminders(limit: int = REMINDER_LIMIT) -> dict[str, Any]:
    """Every minute: deliver reminders whose time has come."""
    from bookings.services.reminders import send_due_reminders as send

    return _summary(send(limit=limit))


def retry_failed_reminders(limit: int = REMINDER_LIMIT) -> dict[str, Any]:
    """Every five minutes: try failed reminders again, with backoff, up to the attempt limit."""
    from bookings.services.reminders import retry_failed_reminders as retry

    return _summary(retry(limit=limit))


def auto_complete_bookings() -> dict[str, int]:
    """Hourly: confirmed bookings of ended sessions become completed; ended open sessions close."""
    report = services.auto_complete()
    return {"completed": report.completed, "sessions_closed": report.sessions_closed}


def generate_upcoming_sessions(days: int | None = None) -> dict[str, int]:
    """Daily: lessons from tutors' weekly availability (``SEATDESK_GENERATE_DAYS`` ahead unless ``days``)."""
    report = services.generate_sessions(days=days)
    return {"created": report.created, "skipped": report.skipped, "tutors": len(report.tutors)}


def purge_idempotency_keys() -> dict[str, int]:
    """Hourly: delete the API's Idempotency-Key answers past their replay window (API_IDEMPOTENCY_HOURS)."""
    from api.idempotency import purge_lapsed

    return {"purged": purge_lapsed()}


def run_import_record(record_id: int) -> dict[str, Any]:
    """Queued from the admin: run a spreadsheet import kept in an ImportRecord (safe to run twice)."""
    from bookings.imports import execute_import_record

    report = execute_import_record(record_id)
    if report is None:
        return {"record": record_id, "ran": False}
    return {"record": record_id, "ran": True, "ok": report.ok, "total": report.total, **report.counts}


def preview_import(kind: str, staged: str, filename: str, actor_id: int) -> dict[str, Any]:
    """Queued from the admin: check a big upload (a dry run) and keep its preview for the page."""
    from bookings.imports.previews import run_preview

    return run_preview(kind, staged, filename, actor_id)


def _summary(report: Any) -> dict[str, Any]:
    """The counts of a reminder service's report, not the objects it may carry (results are pickled)."""
    if is_dataclass(report) and not isinstance(report, type):
        values = {field.name: getattr(report, field.name) for field in fields(report)}
        return {name: value for name, value in values.items() if isinstance(value, int)}
    return {"result": report}
