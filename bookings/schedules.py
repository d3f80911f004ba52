"""The django-q2 schedules of the binding tasks, kept by name: creating them twice changes nothing.

``ensure_schedules`` is run by ``manage.py setup_schedules`` (``make run`` calls it before the
worker starts; a deployment runs it after ``migrate``). A command rather than a data migration:
a migration runs once, so a later change of interval would need another migration and an edit in
the admin would never be put right, while this re-applies the intervals on every start and leaves
each schedule's next run alone. It also removes duplicates of a name someone made by hand.

Why the expiry has two schedules, 30 s apart ("a booking is never expired more than a minute
late"). django-q2's cluster runs its scheduler pass every P >= 30 s: the guard loop
(``django_q/cluster.py``) calls it after 60 cycles of ``stop_event.wait(0.5)`` plus the loop's own
work, so P is 30 s and a little more (30.06 s measured), and no setting shortens it. A pass
starts every schedule whose ``next_run`` is *before* now and moves ``next_run`` on by whole
intervals from its old value (with ``catch_up=False`` it skips missed ones), so a schedule keeps
its phase and fires at the first pass after each point of its grid. Intervals are whole minutes
at the least.

- One every-minute schedule (a 60 s grid): a booking due just after a run waits for the next grid
  point (up to 60 s) and then for the pass after it (up to P): up to 60 s + P, about 90 s. Even
  with perfectly regular passes the runs come 2P apart (now and then P), and 2P is over 60 s.
- Two every-minute schedules, the second 30 s after the first (a 30 s grid): between two passes
  (at least 30 s apart) lies a grid point of one of them, whose ``next_run`` is therefore before
  the second pass, so *every* pass starts an expiry run. A booking is expired by the first pass
  after its deadline: at most P (~30 s) late, and still within 60 s if a pass came late by up to
  30 s. A second cluster only adds passes. (Then the run waits for a free worker: milliseconds
  unless every worker is busy with a long task.)

The price is a second run per minute, which on an empty due set is one statement on the
``(status, expires_at)`` index (``tests/bookings/test_schedules.py`` pins it). The offset schedule
keeps its phase because django-q2 advances it from its own ``next_run``; if it was edited by hand or
recreated, ``ensure_schedules`` puts it back 30 s after the first one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from bookings.services import sql

# The daily generation runs at this time on the centre's clock, when nobody is booking.
DAILY_AT = time(3, 0)


@dataclass(frozen=True)
class Spec:
    name: str
    func: str
    schedule_type: str
    minutes: int | None = None
    # A second schedule of the same task, kept ``offset`` after the named one's grid.
    offset_of: str | None = None
    offset: timedelta = timedelta(0)


EXPIRY = "bookings.tasks.expire_pending_bookings"
# Half the expiry's interval: with the scheduler passing every ~30 s, every pass starts a run.
EXPIRY_OFFSET = timedelta(seconds=30)

SCHEDULES = (
    Spec("expire_pending_bookings", EXPIRY, Schedule.MINUTES, 1),
    Spec("expire_pending_bookings_offset", EXPIRY, Schedule.MINUTES, 1, "expire_pending_bookings", EXPIRY_OFFSET),
    Spec("send_due_reminders", "bookings.tasks.send_due_reminders", Schedule.MINUTES, 1),
    Spec("retry_failed_reminders", "bookings.tasks.retry_failed_reminders", Schedule.MINUTES, 5),
    Spec("auto_complete_bookings", "bookings.tasks.auto_complete_bookings", Schedule.HOURLY),
    Spec("generate_upcoming_sessions", "bookings.tasks.generate_upcoming_sessions", Schedule.DAILY),
    Spec("purge_idempotency_keys", "bookings.tasks.purge_idempotency_keys", Schedule.HOURLY),
)


@dataclass
class SetupReport:
    created: list[str]
    updated: list[str]
    duplicates_removed: int = 0


def ensure_schedules(*, now: datetime | None = None) -> SetupReport:
    """Create or correct one schedule per name in ``SCHEDULES``, in one transaction.

    A new schedule first runs now (so a fresh worker expires due bookings on its first scheduler
    pass), the daily one at the next ``DAILY_AT``, an offset one ``offset`` after its partner's
    next run. An existing schedule keeps its next run, unless it is an offset one out of phase.
    """
    now = now or timezone.now()
    report = SetupReport(created=[], updated=[])
    runs: dict[str, datetime] = {}
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
                first = _first_run(spec, now, runs)
                Schedule.objects.create(name=spec.name, next_run=first, **wanted)
                report.created.append(spec.name)
                runs[spec.name] = first
                continue
            keep, *extra = existing
            if extra:
                report.duplicates_removed += Schedule.objects.filter(pk__in=[s.pk for s in extra]).delete()[0]
            changed = [field for field, value in wanted.items() if getattr(keep, field) != value]
            # A schedule without a next run never fires; an offset one out of phase loses its point.
            if keep.next_run is None or (spec.offset_of and not _in_phase(spec, keep.next_run, runs[spec.offset_of])):
                wanted["next_run"] = _first_run(spec, now, runs)
                changed.append("next_run")
            if changed:
                for field in changed:
                    setattr(keep, field, wanted[field])
                keep.save(update_fields=changed)
                report.updated.append(spec.name)
            runs[spec.name] = keep.next_run
    return report


def _in_phase(spec: Spec, next_run: datetime, partner_run: datetime) -> bool:
    """Whether ``next_run`` lies ``spec.offset`` after a point of the partner's grid (its
    ``next_run`` plus whole intervals): the scheduler moves both by whole intervals, so this holds
    for good once set, and a restart after any outage finds it still true."""
    interval = timedelta(minutes=spec.minutes or 1)
    return (next_run - partner_run - spec.offset) % interval == timedelta(0)


def _first_run(spec: Spec, now: datetime, runs: dict[str, datetime]) -> datetime:
    if spec.offset_of:
        return runs[spec.offset_of] + spec.offset
    if spec.schedule_type != Schedule.DAILY:
        return now
    local = timezone.localtime(now)
    at = local.replace(hour=DAILY_AT.hour, minute=DAILY_AT.minute, second=0, microsecond=0)
    return at if at > local else at + timedelta(days=1)


def _lock() -> None:
    """Two setups at once (two workers starting) must not both create a name. SQLite's IMMEDIATE
    transactions are serialised already; PostgreSQL needs a lock, and there is no row to lock yet."""
    sql.advisory_xact_lock("seatdesk.setup_schedules")
