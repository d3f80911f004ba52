"""The django-q2 tasks run synchronously under a frozen clock, and the commands that do the same work."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from io import StringIO
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from bookings import services, tasks
from bookings.models import Availability, Booking, BookingEvent, BookingStatus, CancelReason, Session
from realtime import events
from tests.factories import LessonFactory, SessionFactory, StudentFactory, TutorFactory, confirmed_booking

pytestmark = pytest.mark.django_db

SUNDAY_NOON = datetime(2025, 6, 1, 12, tzinfo=zoneinfo.ZoneInfo("Asia/Tashkent"))


@pytest.fixture
def published():
    """Every event type the expiry publishes, in order (it moves bookings with the state machine):
    stored at once, or built after commit."""
    types: list[str] = []

    def now(batch):
        types.extend(event[0] for event in batch)
        return events.publish_many(batch)

    def later(build):
        types.extend(event[0] for event in build())
        return events.publish_later(build)

    with (
        mock.patch("bookings.services.state_machine.publish_many", side_effect=now),
        mock.patch("bookings.services.state_machine.publish_later", side_effect=later),
    ):
        yield lambda: types


def pending_booking(**student_fields) -> Booking:
    session = SessionFactory(capacity=3)
    return services.book(session=session, student=StudentFactory(**student_fields))


def test_a_booking_is_untouched_a_second_before_its_deadline_and_expired_at_it(published):
    booking = pending_booking()
    deadline = booking.expires_at

    with time_machine.travel(deadline - timedelta(seconds=1), tick=False):
        assert tasks.expire_pending_bookings() == {"expired": 0}
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
    assert Session.objects.get(pk=booking.session_id).seats_taken == 1

    with time_machine.travel(deadline, tick=False):
        assert tasks.expire_pending_bookings() == {"expired": 1}
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.EXPIRED)
    assert booking.cancelled_at == deadline
    assert Session.objects.get(pk=booking.session_id).seats_taken == 0
    assert published() == ["booking.expired", "slot.updated"]


def test_a_booking_due_between_two_runs_is_expired_by_the_next_one_within_a_minute():
    """The schedule runs every minute, so the first run at or after the deadline is less than a minute late."""
    booking = pending_booking()
    last_run = booking.expires_at - timedelta(seconds=1)
    with time_machine.travel(last_run, tick=False):
        assert tasks.expire_pending_bookings() == {"expired": 0}
    with time_machine.travel(last_run + timedelta(minutes=1), tick=False):
        assert tasks.expire_pending_bookings() == {"expired": 1}
    booking.refresh_from_db()
    assert booking.cancelled_at - booking.expires_at < timedelta(minutes=1)


def test_running_the_expiry_twice_changes_nothing_the_second_time(published, django_capture_on_commit_callbacks):
    booking = pending_booking(email="dilnoza@example.com")
    with time_machine.travel(booking.expires_at + timedelta(minutes=5), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.expire_pending_bookings() == {"expired": 1}
        history = BookingEvent.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.expire_pending_bookings() == {"expired": 0}

    assert BookingEvent.objects.count() == history
    assert BookingEvent.objects.filter(booking=booking, action="booking.expired").count() == 1
    assert Session.objects.get(pk=booking.session_id).seats_taken == 0
    assert published() == ["booking.expired", "slot.updated"]
    assert len(mail.outbox) == 1


def test_the_student_gets_an_email_after_the_expiry_commits(django_capture_on_commit_callbacks, settings):
    settings.TIME_ZONE = "Asia/Tashkent"
    booking = pending_booking(email="dilnoza@example.com", first_name="Dilnoza", last_name="Rashidova")
    without_email = pending_booking(email="", phone="+998901234567")
    session = booking.session

    with time_machine.travel(max(booking.expires_at, without_email.expires_at), tick=False):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            assert tasks.expire_pending_bookings() == {"expired": 2}
        assert mail.outbox == []  # nothing is sent before the commit
        for callback in callbacks:
            callback()

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["dilnoza@example.com"]
    assert booking.reference in message.subject
    local_start = session.starts_at.astimezone(zoneinfo.ZoneInfo("Asia/Tashkent"))
    assert "Dear Dilnoza Rashidova" in message.body
    assert f"{local_start:%H:%M}" in message.body
    assert session.product.name in message.body


def test_a_mail_server_that_is_down_does_not_undo_the_expiry(django_capture_on_commit_callbacks, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    booking = pending_booking(email="dilnoza@example.com")
    with time_machine.travel(booking.expires_at, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert tasks.expire_pending_bookings() == {"expired": 1}
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED


def test_expire_bookings_command_does_the_same_work():
    due, later = pending_booking(), pending_booking()
    Booking.objects.filter(pk=later.pk).update(expires_at=due.expires_at + timedelta(hours=1))
    out = StringIO()
    with time_machine.travel(due.expires_at, tick=False):
        call_command("expire_bookings", stdout=out)
        call_command("expire_bookings", stdout=out)
    assert out.getvalue().splitlines() == ["1 booking(s) expired.", "0 booking(s) expired."]
    assert Booking.objects.get(pk=due.pk).status == BookingStatus.CANCELLED
    assert Booking.objects.get(pk=later.pk).status == BookingStatus.PENDING


def test_auto_complete_task_reports_what_it_changed():
    booking = confirmed_booking(session=SessionFactory(capacity=2))
    with time_machine.travel(booking.session.ends_at, tick=False):
        assert tasks.auto_complete_bookings() == {"completed": 1, "sessions_closed": 1}
        assert tasks.auto_complete_bookings() == {"completed": 0, "sessions_closed": 0}
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.COMPLETED


def test_generate_task_is_idempotent(settings):
    settings.SEATDESK_GENERATE_DAYS = 14
    tutor = TutorFactory(lesson_minutes=60, buffer_after_minutes=0, min_notice_hours=0)
    Availability.objects.create(tutor=tutor, product=LessonFactory(), weekday=0, start_time=time(9), end_time=time(12))

    with time_machine.travel(SUNDAY_NOON, tick=False):
        first = tasks.generate_upcoming_sessions()
        second = tasks.generate_upcoming_sessions()

    assert first == {"created": 6, "skipped": 0, "tutors": 1}
    assert second == {"created": 0, "skipped": 6, "tutors": 1}
    assert Session.objects.filter(tutor=tutor).count() == 6


@dataclass
class FakeDispatch:
    sent: int
    failed: int
    errors: list[str]


@pytest.mark.parametrize(
    ("task", "service"),
    [
        (tasks.send_due_reminders, "bookings.services.reminders.send_due_reminders"),
        (tasks.retry_failed_reminders, "bookings.services.reminders.retry_failed_reminders"),
    ],
)
def test_reminder_tasks_call_their_service_with_a_limit_and_keep_the_counts(task, service):
    with mock.patch(service, create=True, return_value=FakeDispatch(sent=3, failed=1, errors=["boom"])) as called:
        assert task() == {"sent": 3, "failed": 1}
        assert task(limit=5) == {"sent": 3, "failed": 1}
    assert [call.kwargs for call in called.call_args_list] == [{"limit": tasks.REMINDER_LIMIT}, {"limit": 5}]
