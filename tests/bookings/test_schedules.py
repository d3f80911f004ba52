"""The django-q2 schedules: one per name, right function and interval, created however often setup runs;
and the expiry's two schedules, 30 s apart, keep every booking within a minute of its deadline."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import redis
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.brokers import Broker
from django_q.models import Schedule
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage

from bookings import services, tasks
from bookings.models import Booking, BookingStatus
from bookings.schedules import EXPIRY, ensure_schedules
from tests.factories import SessionFactory, StudentFactory, confirmed_booking

pytestmark = pytest.mark.django_db

TASHKENT = zoneinfo.ZoneInfo("Asia/Tashkent")
EXPECTED = {
    "expire_pending_bookings": ("bookings.tasks.expire_pending_bookings", Schedule.MINUTES, 1),
    "expire_pending_bookings_offset": ("bookings.tasks.expire_pending_bookings", Schedule.MINUTES, 1),
    "send_due_reminders": ("bookings.tasks.send_due_reminders", Schedule.MINUTES, 1),
    "retry_failed_reminders": ("bookings.tasks.retry_failed_reminders", Schedule.MINUTES, 5),
    "auto_complete_bookings": ("bookings.tasks.auto_complete_bookings", Schedule.HOURLY, None),
    "generate_upcoming_sessions": ("bookings.tasks.generate_upcoming_sessions", Schedule.DAILY, None),
    "purge_idempotency_keys": ("bookings.tasks.purge_idempotency_keys", Schedule.HOURLY, None),
}


def current() -> dict[str, tuple[str, str, int | None]]:
    return {s.name: (s.func, s.schedule_type, s.minutes) for s in Schedule.objects.all()}


def test_setting_up_twice_leaves_one_schedule_per_name():
    first = ensure_schedules()
    second = ensure_schedules()

    assert sorted(first.created) == sorted(EXPECTED)
    assert (second.created, second.updated, second.duplicates_removed) == ([], [], 0)
    assert Schedule.objects.count() == len(EXPECTED)
    assert current() == EXPECTED
    assert set(Schedule.objects.values_list("repeats", flat=True)) == {-1}


def test_new_schedules_run_now_and_the_daily_one_at_three_at_night(settings):
    settings.TIME_ZONE = "Asia/Tashkent"
    now = datetime(2025, 6, 1, 14, 30, tzinfo=TASHKENT)
    with time_machine.travel(now, tick=False):
        ensure_schedules()
    runs = dict(Schedule.objects.values_list("name", "next_run"))
    assert runs["expire_pending_bookings"] == now
    assert runs["expire_pending_bookings_offset"] == now + timedelta(seconds=30)
    assert runs["auto_complete_bookings"] == now
    assert runs["generate_upcoming_sessions"] == datetime(2025, 6, 2, 3, 0, tzinfo=TASHKENT)


def test_a_restart_keeps_next_runs_but_puts_changed_intervals_right_and_drops_duplicates():
    ensure_schedules()
    expire = Schedule.objects.get(name="expire_pending_bookings")
    Schedule.objects.filter(pk=expire.pk).update(minutes=10)
    Schedule.objects.create(name="auto_complete_bookings", func="bookings.tasks.auto_complete_bookings")
    next_runs = dict(Schedule.objects.filter(name="send_due_reminders").values_list("name", "next_run"))

    report = ensure_schedules()

    assert report.updated == ["expire_pending_bookings"]
    assert report.duplicates_removed == 1
    assert current() == EXPECTED
    assert dict(Schedule.objects.filter(name="send_due_reminders").values_list("name", "next_run")) == next_runs
    assert Schedule.objects.get(name="expire_pending_bookings").pk == expire.pk


def test_setup_schedules_command():
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    call_command("setup_schedules", stdout=out)
    assert out.getvalue().splitlines() == [
        "Schedules: 7 created, 0 corrected, 0 unchanged.",
        "Schedules: 0 created, 0 corrected, 7 unchanged.",
    ]
    assert Schedule.objects.count() == 7


def test_the_cluster_settings_are_safe():
    q = settings.Q_CLUSTER
    assert q["timeout"] < q["retry"]  # a slow task is never handed out a second time while it runs
    assert q["max_attempts"] >= 1
    assert q["catch_up"] is False  # a worker back after an outage runs each schedule once, not once per missed minute
    assert q["time_zone"] == settings.TIME_ZONE
    if settings.REDIS_URL:
        # A pool built from REDIS_URL (its timeouts: tests/backoffice/test_redis_clients.py).
        pool = q["redis"]["connection_pool"]
        url = redis.ConnectionPool.from_url(settings.REDIS_URL).connection_kwargs
        assert {key: pool.connection_kwargs[key] for key in ("host", "port", "db")} == {
            key: url[key] for key in ("host", "port", "db")
        }
    else:
        assert q["orm"] == "default"


# The expiry's two schedules


def test_the_two_expiry_schedules_exist_once_each_and_run_30_seconds_apart():
    now = datetime(2030, 3, 4, 9, 0, 0, 250_000, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        ensure_schedules()
    with time_machine.travel(now + timedelta(minutes=5), tick=False):
        second = ensure_schedules()

    assert (second.created, second.updated) == ([], [])
    expiry = list(Schedule.objects.filter(func=EXPIRY).order_by("name").values_list("name", "next_run"))
    assert [name for name, _ in expiry] == ["expire_pending_bookings", "expire_pending_bookings_offset"]
    assert expiry[1][1] - expiry[0][1] == timedelta(seconds=30)


def test_a_restart_keeps_the_offset_after_an_outage_and_puts_a_lost_one_back():
    start = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        ensure_schedules()
    first = Schedule.objects.get(name="expire_pending_bookings")
    offset = Schedule.objects.get(name="expire_pending_bookings_offset")

    # Down for a while: django-q2 moves each by whole minutes from its own next run (catch_up=False),
    # by different numbers of minutes depending on when each was last due. Still in phase: left alone.
    Schedule.objects.filter(pk=first.pk).update(next_run=start + timedelta(minutes=47))
    Schedule.objects.filter(pk=offset.pk).update(next_run=start + timedelta(minutes=46, seconds=30))
    assert ensure_schedules().updated == []
    offset.refresh_from_db()
    assert offset.next_run == start + timedelta(minutes=46, seconds=30)

    # Edited by hand onto the first one's grid: the point of the second schedule is lost, so put it back.
    Schedule.objects.filter(pk=offset.pk).update(next_run=start + timedelta(minutes=52))
    assert ensure_schedules().updated == ["expire_pending_bookings_offset"]
    offset.refresh_from_db()
    assert offset.next_run == start + timedelta(minutes=47, seconds=30)
    assert ensure_schedules().updated == []


def test_an_expiry_run_with_nothing_due_is_one_statement_on_the_bookings():
    """The price of the second schedule: on an empty due set each run reads the (status, expires_at) index once."""
    session = SessionFactory(capacity=5)
    confirmed_booking(session=session)
    services.book(session=session, student=StudentFactory())  # pending, not due yet

    with CaptureQueriesContext(connection) as captured:
        assert tasks.expire_pending_bookings() == {"expired": 0}

    statements = [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1
    assert Booking._meta.db_table in statements[0]


# Worst case: django-q2's own scheduler, passing every P seconds under a frozen clock.


class RecordingBroker(Broker):
    """Keeps what the scheduler enqueues, with the time of the pass, instead of queueing it."""

    def __init__(self) -> None:
        super().__init__(list_key="simulation")
        self.enqueued: list[tuple[datetime, str]] = []

    def enqueue(self, task: str) -> int:
        self.enqueued.append((timezone.now(), SignedPackage.loads(task)["func"]))
        return len(self.enqueued)


T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


def simulate_passes(
    monkeypatch, *, period: float, first_pass: float, minutes: int = 6
) -> tuple[list[datetime], list[datetime]]:
    """Bookings due every 5 s and just after each pass; django-q2's ``scheduler()`` every ``period``
    seconds, each expiry it enqueues run at once (a free worker). Returns the passes and the expiry runs."""
    # Inside the test's transaction there are no stale connections to close (closing would break it).
    monkeypatch.setattr("django_q.scheduler.close_old_django_connections", lambda: None)
    passes = [T0 + timedelta(seconds=first_pass + n * period) for n in range(int(minutes * 60 / period))]
    deadlines = [T0 + timedelta(seconds=s) for s in range(5, minutes * 60 - 60, 5)]
    deadlines += [
        moment + timedelta(milliseconds=1) for moment in passes if moment < passes[-1] - timedelta(seconds=60)
    ]
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        session = SessionFactory(capacity=len(deadlines), starts_at=T0 + timedelta(days=2))
        for deadline in deadlines:
            booking = services.book(session=session, student=StudentFactory())
            Booking.objects.filter(pk=booking.pk).update(expires_at=deadline)

    broker = RecordingBroker()
    for moment in passes:
        with time_machine.travel(moment, tick=False):
            already = len(broker.enqueued)
            scheduler(broker=broker)
            for _, func in broker.enqueued[already:]:
                if func == EXPIRY:
                    tasks.expire_pending_bookings()
    runs = sorted({at for at, func in broker.enqueued if func == EXPIRY})
    assert runs, "the scheduler enqueued no expiry run"
    return passes, runs


def lateness() -> list[timedelta]:
    expired = Booking.objects.filter(status=BookingStatus.CANCELLED, cancelled_at__isnull=False)
    assert expired.count() == Booking.objects.count()  # every booking of the simulation expired
    return [cancelled - due for cancelled, due in expired.values_list("cancelled_at", "expires_at")]


@pytest.mark.parametrize(
    ("period", "first_pass"),
    [
        (30.0, 0.0),  # passes exactly on the grid points (the scheduler's "before now" is strict)
        (30.0, 12.5),
        (30.25, 17.3),  # the guard loop's own work makes a pass a little over 30 s
        (59.0, 5.0),  # passes up to 29 s late still keep the minute
    ],
)
def test_with_two_schedules_30_s_apart_every_pass_runs_the_expiry_and_no_booking_waits_over_a_minute(
    monkeypatch, period: float, first_pass: float
):
    with time_machine.travel(T0, tick=False):
        ensure_schedules()

    passes, runs = simulate_passes(monkeypatch, period=period, first_pass=first_pass)

    # The argument in bookings.schedules: passes are >= 30 s apart, so every one after the first
    # finds a grid point of one of the two schedules behind it.
    assert runs == passes[1:] or runs == passes
    late = lateness()
    assert max(late) <= timedelta(seconds=period)
    assert max(late) <= timedelta(minutes=1)
    assert min(late) >= timedelta(0)


def test_control_with_one_every_minute_schedule_a_booking_waits_over_a_minute(monkeypatch):
    with time_machine.travel(T0, tick=False):
        ensure_schedules()
    Schedule.objects.filter(name="expire_pending_bookings_offset").delete()

    passes, runs = simulate_passes(monkeypatch, period=30.25, first_pass=17.3)

    assert len(runs) < len(passes) - 1  # only every other pass finds the schedule due
    assert max(lateness()) > timedelta(minutes=1)  # 2 x 30.25 s after a booking due just after a run
