"""The django-q2 schedules: one per name, right function and interval, created however often setup runs."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from io import StringIO

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django_q.models import Schedule

from bookings.schedules import ensure_schedules

pytestmark = pytest.mark.django_db

TASHKENT = zoneinfo.ZoneInfo("Asia/Tashkent")
EXPECTED = {
    "expire_pending_bookings": ("bookings.tasks.expire_pending_bookings", Schedule.MINUTES, 1),
    "send_due_reminders": ("bookings.tasks.send_due_reminders", Schedule.MINUTES, 1),
    "retry_failed_reminders": ("bookings.tasks.retry_failed_reminders", Schedule.MINUTES, 5),
    "auto_complete_bookings": ("bookings.tasks.auto_complete_bookings", Schedule.HOURLY, None),
    "generate_upcoming_sessions": ("bookings.tasks.generate_upcoming_sessions", Schedule.DAILY, None),
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
        "Schedules: 5 created, 0 corrected, 0 unchanged.",
        "Schedules: 0 created, 0 corrected, 5 unchanged.",
    ]
    assert Schedule.objects.count() == 5


def test_the_cluster_settings_are_safe():
    q = settings.Q_CLUSTER
    assert q["timeout"] < q["retry"]  # a slow task is never handed out a second time while it runs
    assert q["max_attempts"] >= 1
    assert q["catch_up"] is False  # a worker back after an outage runs each schedule once, not once per missed minute
    assert q["time_zone"] == settings.TIME_ZONE
    if settings.REDIS_URL:
        assert q["redis"] == settings.REDIS_URL
    else:
        assert q["orm"] == "default"
