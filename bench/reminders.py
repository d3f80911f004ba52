"""Reminder dispatch: 10,000 due reminders sent by one worker with no-op backends, on PostgreSQL.

Measures reminders/s through ``send_due_reminders()`` (claim a batch in one UPDATE, render, send,
record the batch in a few statements), then in the same run the same 10,000 reminders through a
naive per-row loop: fetch one reminder with its booking, render and send it, save it, write its
history row. Both use the same renderers and the same no-op e-mail and SMS backends, so the
difference is the database work per reminder.

Target (issue 5): the dispatcher at least 10× the naive loop.

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/reminders.py
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import (
    CpuMeter,
    Target,
    bench_product,
    configure,
    environment,
    fail,
    report,
    scale,
    settle,
    throwaway_database,
)

REMINDERS = scale(10_000, 100)
TARGET_RATIO = 10
TABLES = ("bookings_reminder", "bookings_booking", "bookings_bookingevent", "realtime_notification")


def seed(count: int) -> list[int]:
    """Confirmed bookings in a tutor's session, each with a due e-mail, SMS and push reminder."""
    from django.utils import timezone

    from backoffice.models import Role, User
    from bookings.models import (
        Booking,
        BookingStatus,
        Reminder,
        ReminderChannel,
        Session,
        Tutor,
    )

    now = timezone.now()
    product = bench_product()
    tutor_user = User.objects.create(username="bench-tutor", first_name="Bench", last_name="Tutor", role=Role.TUTOR)
    tutor = Tutor.objects.create(user=tutor_user, timezone="Europe/London")
    bookings_needed = -(-count // 3)
    starts_at = now.replace(microsecond=0) + timedelta(days=2)
    session = Session.objects.create(
        product=product,
        tutor=tutor,
        room="Hall A",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=3),
        capacity=bookings_needed,
        seats_taken=bookings_needed,
    )
    students = User.objects.bulk_create(
        (
            User(
                username=f"bench-student-{n}",
                first_name="Student",
                last_name=str(n),
                email=f"student{n}@bench.example",
                phone=f"+99890{n:07d}",
                role=Role.STUDENT,
                password="!",
                date_joined=now,
            )
            for n in range(bookings_needed)
        ),
        batch_size=2000,
    )
    bookings = Booking.objects.bulk_create(
        (
            Booking(
                reference=f"B{n:07d}",
                student=student,
                session=session,
                status=BookingStatus.CONFIRMED,
                price=product.price,
                confirmed_at=now,
            )
            for n, student in enumerate(students)
        ),
        batch_size=2000,
    )
    channels = [
        (ReminderChannel.EMAIL, lambda b: b.student_id),
        (ReminderChannel.SMS, lambda b: b.student_id),
        (ReminderChannel.PUSH, lambda b: tutor_user.pk),
    ]
    reminders = [
        Reminder(booking=booking, recipient_id=who(booking), channel=channel, kind="24h", scheduled_at=now)
        for booking in bookings
        for channel, who in channels
    ][:count]
    return [r.pk for r in Reminder.objects.bulk_create(reminders, batch_size=2000)]


def reset(ids: list[int]) -> None:
    """Back to due, with no trace of the first phase, so the second does the same work."""
    from bookings.models import BookingEvent, Reminder, ReminderStatus
    from realtime.models import Notification

    Reminder.objects.filter(pk__in=ids).update(
        status=ReminderStatus.PENDING, attempts=0, sent_at=None, claimed_at=None, last_error=""
    )
    BookingEvent.objects.filter(action__startswith="reminder.").delete()
    Notification.objects.all().delete()


def naive(ids: list[int]) -> None:
    """The per-row loop: fetch, send, save each (with its history row), as a first version would."""
    from django.utils import timezone

    from bookings.models import BookingEvent, Reminder, ReminderChannel, ReminderStatus
    from bookings.notify import get_sms_backend, messages
    from bookings.services.reminders import RELATED, _not_wanted
    from realtime.events import publish

    sms = get_sms_backend()
    for pk in ids:
        reminder = Reminder.objects.select_related(*RELATED).get(pk=pk)
        now = timezone.now()
        if _not_wanted(reminder, now):
            continue
        if reminder.channel == ReminderChannel.EMAIL:
            messages.email_for(reminder, now).send()
        elif reminder.channel == ReminderChannel.SMS:
            sms.send(messages.sms_for(reminder, now))
        else:
            type_, data, groups, recipients = messages.push_event_for(reminder, now)
            publish(type_, data, groups=groups, recipients=recipients)
        reminder.status = ReminderStatus.SENT
        reminder.attempts += 1
        reminder.sent_at = now
        reminder.save(update_fields=["status", "attempts", "sent_at"])
        BookingEvent.objects.create(
            booking_id=reminder.booking_id,
            action="reminder.sent",
            data={"reminder": pk, "channel": reminder.channel, "kind": reminder.kind},
        )


def check_sent(ids: list[int], label: str) -> None:
    from bookings.models import BookingEvent, Reminder, ReminderStatus
    from realtime.models import Notification

    sent = Reminder.objects.filter(pk__in=ids, status=ReminderStatus.SENT, attempts=1).count()
    events = BookingEvent.objects.filter(action="reminder.sent").count()
    pushes = Reminder.objects.filter(pk__in=ids, channel="push").count()
    notes = Notification.objects.filter(type="booking.reminder").count()
    if (sent, events, notes) != (len(ids), len(ids), pushes):
        fail(f"{label}: {sent} sent once, {events} history rows, {notes} notifications for {len(ids)} reminders")


def timed(work: Any) -> tuple[float, CpuMeter]:
    cpu = CpuMeter()
    with cpu:
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
    return seconds, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=REMINDERS)
    args = parser.parse_args(argv)
    count = args.reminders

    configure("reminders")
    from django.conf import settings

    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    settings.SMS_BACKEND = "dummy"

    with throwaway_database():
        from bookings.services.reminders import send_due_reminders

        env = environment()
        ids = seed(count)

        settle(*TABLES)
        print(f"send_due_reminders(): {count:,} due reminders ...", flush=True)
        result: list[Any] = []
        ours_seconds, ours_cpu = timed(lambda: result.append(send_due_reminders()))
        if result[0].sent != count:
            fail(f"send_due_reminders() sent {result[0].sent} of {count}: {result[0]}")
        check_sent(ids, "send_due_reminders()")

        reset(ids)
        settle(*TABLES)
        print(f"naive loop: the same {count:,} reminders one by one ...", flush=True)
        naive_seconds, naive_cpu = timed(lambda: naive(ids))
        check_sent(ids, "naive loop")

    ours_rate, naive_rate = count / ours_seconds, count / naive_seconds
    ratio = ours_rate / naive_rate
    rows = [
        *env,
        ("work", f"{count:,} due reminders (e-mail, SMS, push), no-op e-mail and SMS backends, 1 worker"),
        ("send_due_reminders()", f"{ours_rate:,.0f} reminders/s  ({count:,} in {ours_seconds:.2f} s)"),
        ("naive loop (baseline)", f"{naive_rate:,.0f} reminders/s  ({count:,} in {naive_seconds:.2f} s)"),
        ("ratio", f"{ratio:.1f}×"),
        ("CPU per reminder, dispatcher", ours_cpu.per(count)),
        ("CPU per reminder, naive", naive_cpu.per(count)),
        ("check", f"{count:,} sent exactly once, one history row each, one notification per push, both phases"),
    ]
    report(
        f"reminders — {count:,} due reminders, one worker",
        rows,
        [Target(f"dispatcher ≥ {TARGET_RATIO}× the naive loop: {ratio:.1f}×", ratio >= TARGET_RATIO)],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
