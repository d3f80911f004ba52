"""``manage.py generate_sessions --days N [--tutor EMAIL|ID]``."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from bookings.models import Availability, Session, Tutor
from tests.factories import LessonFactory, TutorFactory

pytestmark = pytest.mark.django_db

SUNDAY_NOON = datetime(2025, 6, 1, 12, tzinfo=zoneinfo.ZoneInfo("Asia/Tashkent"))


def teaching_tutor(**fields) -> Tutor:
    """Mondays 9:00-12:00: three one-hour lessons a week."""
    tutor = TutorFactory(lesson_minutes=60, buffer_after_minutes=0, min_notice_hours=0, **fields)
    Availability.objects.create(tutor=tutor, product=LessonFactory(), weekday=0, start_time=time(9), end_time=time(12))
    return tutor


def run(*args: str) -> str:
    out = StringIO()
    with time_machine.travel(SUNDAY_NOON, tick=False):
        call_command("generate_sessions", *args, stdout=out)
    return out.getvalue()


def test_it_generates_for_every_active_tutor_and_prints_each(settings):
    settings.SEATDESK_GENERATE_DAYS = 14
    first, second = teaching_tutor(), teaching_tutor()
    teaching_tutor(is_active=False)

    output = run()

    assert Session.objects.count() == 12
    assert f"{first}: 6 created over 14 days" in output
    assert f"{second}: 6 created over 14 days" in output
    assert "12 sessions created, 0 slots skipped, 2 tutor(s)." in output


def test_it_generates_as_many_days_as_asked():
    tutor = teaching_tutor()

    output = run("--days", "2")  # Sunday and Monday; the default (14) would take two Mondays

    assert Session.objects.filter(tutor=tutor).count() == 3
    assert f"{tutor}: 3 created over 2 days" in output


def test_it_creates_nothing_new_when_run_again_and_says_why_with_verbosity():
    teaching_tutor()
    run("--days", "7")

    output = run("--days", "7", "-v", "2")

    assert Session.objects.count() == 3
    assert "0 sessions created, 3 slots skipped" in output
    assert "skipped Mon 2025-06-02 09:00: already scheduled" in output


@pytest.mark.parametrize("by", ["email", "id"])
def test_it_generates_for_one_tutor_named_by_email_or_id(by):
    tutor, other = teaching_tutor(), teaching_tutor()

    run("--days", "7", "--tutor", tutor.user.email.upper() if by == "email" else str(tutor.pk))

    assert Session.objects.filter(tutor=tutor).count() == 3
    assert not Session.objects.filter(tutor=other).exists()


def test_it_refuses_an_unknown_tutor():
    with pytest.raises(CommandError, match=r"No tutor with the id or e-mail 'nobody@example\.com'"):
        run("--tutor", "nobody@example.com")
    assert not Session.objects.exists()


@pytest.mark.parametrize("days", ["0", "-3", "two"])
def test_it_refuses_a_number_of_days_that_is_not_positive(days):
    teaching_tutor()
    with pytest.raises(CommandError, match="is not a number of days"):
        run("--days", days)
    assert not Session.objects.exists()
