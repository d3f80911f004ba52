"""The django-q2 schedules of the binding tasks, kept by name: creating them twice changes nothing.

``ensure_schedules`` is run by ``manage.py setup_schedules`` (``make run`` calls it before the
worker starts; a deployment runs it after ``migrate``). A command rather than a data migration:
a migration runs once, so a later change of interval would need another migration and an edit in
the admin would never be put right, while this re-applies the intervals on every start and leaves
each schedule's next run alone. It also removes duplicates of a name someone made by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django_q.models import Schedule

# The daily generation runs at this time on the centre's clock, when nobody is booking.
DAILY_AT = time(3, 0)


@dataclass(frozen=True)
class Spec:
    name: str
    func: str
    schedule_type: str
    minutes: int | None = None


SCHEDULES = (
    Spec("expire_pending_bookings", "bookings.tasks.expire_pending_bookings", Schedule.MINUTES, 1),
    Spec("send_due_reminders", "bookings.tasks.send_due_reminders", Schedule.MINUTES, 1),
    Spec("retry_failed_reminders", "bookings.tasks.retry_failed_reminders", Schedule.MINUTES, 5),
    Spec("auto_complete_bookings", "bookings.tasks.auto_complete_bookings", Schedule.HOURLY),
    Spec("generate_upcoming_sessions", "bookings.tasks.generate_upcoming_sessions", Schedule.DAILY),
)


@dataclass
class SetupReport:
    created: list[str]
    updated: list[str]
    duplicates_removed: int = 0


def ensure_schedules(*, now: datetime | None = None) -> SetupReport:
    """Create or correct one schedule per name in ``SCHEDULES``, in one transaction.

    A new schedule first runs now (so a fresh worker expires due bookings on its first scheduler
    pass), the daily one at the next ``DAILY_AT``. An existing schedule keeps its next run.
    """
    now = now or timezone.now()
    report = SetupReport(created=[], updated=[])
    with transaction.atomic():
        _lock()
        for spec in SCHEDULES:
            wanted = {
                "func": spec.func,
                "schedule_type": spec.schedule_type,
                "minutes": spec.minutes,
                "repeats": -1,
                "args": None,
                "kwargs": None,
                "cluster": None,
            }
            existing = list(Schedule.objects.filter(name=spec.name).order_by("pk"))
            if not existing:
                Schedule.objects.create(name=spec.name, next_run=_first_run(spec, now), **wanted)
                report.created.append(spec.name)
                continue
            keep, *extra = existing
            if extra:
                report.duplicates_removed += Schedule.objects.filter(pk__in=[s.pk for s in extra]).delete()[0]
            changed = [field for field, value in wanted.items() if getattr(keep, field) != value]
            if changed:
                for field in changed:
                    setattr(keep, field, wanted[field])
                keep.save(update_fields=changed)
                report.updated.append(spec.name)
    return report


def _first_run(spec: Spec, now: datetime) -> datetime:
    if spec.schedule_type != Schedule.DAILY:
        return now
    local = timezone.localtime(now)
    at = local.replace(hour=DAILY_AT.hour, minute=DAILY_AT.minute, second=0, microsecond=0)
    return at if at > local else at + timedelta(days=1)


def _lock() -> None:
    """Two setups at once (two workers starting) must not both create a name. SQLite's IMMEDIATE
    transactions are serialised already; PostgreSQL needs a lock, and there is no row to lock yet."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('seatdesk.setup_schedules'))")
