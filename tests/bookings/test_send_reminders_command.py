"""``send_reminders --limit N --retry-failed``: the reminder tasks' work from the shell."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from bookings.models import Reminder, ReminderStatus
from bookings.notify import sms
from tests.factories import SessionFactory, confirmed_booking

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem_sms(settings):
    settings.SMS_BACKEND = "locmem"
    sms.outbox.clear()


@pytest.fixture
def starts():
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    confirmed_booking(session=SessionFactory(starts_at=start))  # no tutor: e-mail, SMS and the student's push
    return start


def run(*args: str) -> str:
    out = StringIO()
    call_command("send_reminders", *args, stdout=out)
    return out.getvalue()


def test_it_sends_the_due_reminders_up_to_the_limit(starts) -> None:
    with time_machine.travel(starts - timedelta(minutes=5), tick=False):
        assert run("--limit", "4") == "Due reminders: 4 sent, 0 failed (0 gave up), 0 skipped.\n"
        assert Reminder.objects.filter(status=ReminderStatus.PENDING).count() == 5  # 3 offsets x 3 channels
        assert run() == "Due reminders: 5 sent, 0 failed (0 gave up), 0 skipped.\n"


def test_it_retries_failed_reminders_only_when_asked(starts) -> None:
    reminder = Reminder.objects.filter(kind="24h").first()
    Reminder.objects.exclude(pk=reminder.pk).update(status=ReminderStatus.CANCELLED)
    now = starts - timedelta(hours=2)
    Reminder.objects.filter(pk=reminder.pk).update(
        status=ReminderStatus.FAILED, attempts=1, last_error="boom", next_attempt_at=now - timedelta(minutes=1)
    )
    with time_machine.travel(now, tick=False):
        assert run() == "Due reminders: 0 sent, 0 failed (0 gave up), 0 skipped.\n"
        reminder.refresh_from_db()
        assert reminder.status == ReminderStatus.FAILED

        output = run("--retry-failed")

    assert output.splitlines()[-1] == "Retried reminders: 1 sent, 0 failed (0 gave up), 0 skipped."
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (ReminderStatus.SENT, 2)


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_it_refuses_a_limit_that_is_not_a_positive_number(limit: str) -> None:
    with pytest.raises(CommandError, match="is not a number of reminders"):
        run("--limit", limit)
