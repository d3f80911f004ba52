"""Reminder delivery: due reminders are claimed, sent in the reader's time zone and recorded once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from bookings import services
from bookings.models import (
    Booking,
    BookingEvent,
    BookingStatus,
    CancelReason,
    Reminder,
    ReminderChannel,
    ReminderStatus,
    Tutor,
)
from bookings.notify import SMSError, messages, sms
from bookings.selectors import app_users
from bookings.services import reminders as service
from realtime.events import publish
from realtime.models import Notification
from tests.factories import SessionFactory, StudentFactory, TutorFactory, confirmed_booking

NOW = datetime(2030, 5, 6, 10, 0, tzinfo=timezone.get_default_timezone())  # Asia/Tashkent, UTC+5
STARTS = datetime(2030, 5, 9, 9, 0, tzinfo=timezone.get_default_timezone())  # 04:00 UTC, 05:00 in London


class BrokenSMSBackend(sms.BaseSMSBackend):
    def send(self, message: sms.SMSMessage) -> None:
        raise SMSError("provider said 503")


@pytest.fixture(autouse=True)
def _locmem_sms(settings):
    settings.SMS_BACKEND = "locmem"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def tutor(db) -> Tutor:
    return TutorFactory(timezone="Europe/London")


@pytest.fixture
def booking(tutor: Tutor) -> Booking:
    with time_machine.travel(NOW, tick=False):
        session = SessionFactory(tutor=tutor, starts_at=STARTS, room="Room 7")
        return confirmed_booking(session=session, student=StudentFactory(first_name="Dilnoza", last_name="Karimova"))


def at(moment: datetime) -> time_machine.travel:
    return time_machine.travel(moment, tick=False)


def statuses(booking: Booking) -> dict[tuple[str, str], str]:
    return {(r.kind, r.channel): r.status for r in Reminder.objects.filter(booking=booking)}


# Offsets


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "offset"), [("24h", timedelta(hours=24)), ("1h", timedelta(hours=1)), ("15m", timedelta(minutes=15))]
)
def test_it_sends_each_offset_at_its_time_and_not_before(booking: Booking, kind: str, offset: timedelta) -> None:
    due = STARTS - offset
    with at(due - timedelta(seconds=1)):
        service.send_due_reminders()  # whatever fell due earlier
    assert {s for (k, _), s in statuses(booking).items() if k == kind} == {ReminderStatus.PENDING}
    emails, texts = len(mail.outbox), len(sms.outbox)

    with at(due):
        report = service.send_due_reminders()

    assert report.sent == 3  # e-mail and SMS to the student, push to the tutor
    sent = Reminder.objects.filter(booking=booking, kind=kind)
    assert {r.channel for r in sent} == {"email", "sms", "push"}
    assert {(r.status, r.attempts, r.sent_at, r.claimed_at) for r in sent} == {(ReminderStatus.SENT, 1, due, None)}
    assert (len(mail.outbox), len(sms.outbox)) == (emails + 1, texts + 1)
    assert BookingEvent.objects.filter(booking=booking, action="reminder.sent", data__kind=kind).count() == 3


@pytest.mark.django_db
def test_it_sends_all_that_fell_due_while_no_worker_ran(booking: Booking) -> None:
    with at(STARTS - timedelta(minutes=5)):
        report = service.send_due_reminders()
    assert report.sent == 9
    assert len(mail.outbox) == 3


# What the messages say


@pytest.mark.django_db
def test_it_writes_local_times_centre_for_the_student_and_the_tutors_own_for_the_tutor(
    booking: Booking, tutor: Tutor
) -> None:
    with at(STARTS - timedelta(hours=24)):
        service.send_due_reminders()
    mail.outbox.clear()
    sms.outbox.clear()
    Notification.objects.all().delete()

    with at(STARTS - timedelta(hours=1)):
        service.send_due_reminders()

    (email,) = mail.outbox
    assert email.to == [booking.student.email]
    assert email.subject == "Reminder: " + booking.session.product.name + " in 1 hour (Thu 9 May 09:00)"
    assert "Dear Dilnoza Karimova" in email.body
    assert "on Thursday 9 May 2030, 09:00 (Asia/Tashkent)" in email.body
    assert "Room: Room 7" in email.body
    assert "04:00" not in email.body  # never UTC
    (text,) = sms.outbox
    assert text.to == booking.student.phone
    assert "in 1 hour, Thu 9 May 09:00" in text.body and booking.reference in text.body
    note = Notification.objects.get(recipient=tutor.user, type="booking.reminder")
    assert "Thu 9 May 05:00 (Europe/London)" in note.message
    assert note.data["data"]["time_zone"] == "Europe/London"


# Failures, retries and the attempt limit


@pytest.mark.django_db
def test_it_records_a_failure_and_retries_it_after_the_backoff(booking: Booking, settings) -> None:
    settings.SMS_BACKEND = "tests.bookings.test_reminders.BrokenSMSBackend"
    settings.REMINDER_RETRY_BACKOFF = 5
    due = STARTS - timedelta(hours=24)
    with at(due):
        report = service.send_due_reminders()
    assert (report.sent, report.failed, report.gave_up) == (2, 1, 0)
    failed = Reminder.objects.get(booking=booking, kind="24h", channel="sms")
    assert failed.status == ReminderStatus.FAILED
    assert failed.attempts == 1
    assert failed.last_error == "SMSError: provider said 503"
    assert failed.next_attempt_at == due + timedelta(minutes=5)

    with at(due + timedelta(minutes=4, seconds=59)):
        assert service.retry_failed_reminders().claimed == 0  # backoff not over
    with at(due + timedelta(minutes=5)):
        again = service.retry_failed_reminders()
    failed.refresh_from_db()
    assert (again.failed, failed.attempts, failed.next_attempt_at) == (1, 2, due + timedelta(minutes=15))  # 5, then 10

    settings.SMS_BACKEND = "locmem"
    with at(due + timedelta(minutes=15)):
        assert service.retry_failed_reminders().sent == 1
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error, failed.next_attempt_at) == ("sent", 3, "", None)
    assert len(sms.outbox) == 1


@pytest.mark.django_db
def test_it_gives_up_at_the_attempt_limit(booking: Booking, settings) -> None:
    settings.SMS_BACKEND = "tests.bookings.test_reminders.BrokenSMSBackend"
    settings.REMINDER_MAX_ATTEMPTS = 3
    settings.REMINDER_RETRY_BACKOFF = 1
    moment = STARTS - timedelta(hours=24)
    with at(moment):
        service.send_due_reminders()
    gave_up = 0
    for _ in range(5):
        moment += timedelta(hours=1)
        with at(moment):
            gave_up += service.retry_failed_reminders().gave_up
    reminder = Reminder.objects.get(booking=booking, kind="24h", channel="sms")
    assert (reminder.status, reminder.attempts, reminder.next_attempt_at) == ("failed", 3, None)
    assert gave_up == 1
    final = BookingEvent.objects.filter(booking=booking, action="reminder.failed").order_by("pk").last()
    assert final.data["final"] is True


@pytest.mark.django_db
def test_a_broken_mail_server_fails_the_emails_only(booking: Booking, settings) -> None:
    settings.EMAIL_BACKEND = "tests.bookings.test_reminders.BrokenMailBackend"
    with at(STARTS - timedelta(minutes=15)):
        report = service.send_due_reminders()
    assert (report.sent, report.failed) == (6, 3)  # SMS and push for each of the three offsets
    assert Reminder.objects.get(booking=booking, kind="15m", channel="email").last_error == (
        "ConnectionRefusedError: mail server down"
    )


class BrokenMailBackend:
    def __init__(self, *args, **kwargs) -> None:
        pass

    def open(self) -> None:
        raise ConnectionRefusedError("mail server down")


# Reminders that must not go out


@pytest.mark.django_db
def test_a_cancelled_bookings_reminders_are_never_sent(booking: Booking) -> None:
    with at(NOW):
        services.cancel(booking, reason=CancelReason.STAFF)
    with at(STARTS - timedelta(minutes=1)):
        report = service.send_due_reminders()
        retried = service.retry_failed_reminders()
    assert report.claimed == retried.claimed == 0
    assert set(statuses(booking).values()) == {ReminderStatus.CANCELLED}
    assert mail.outbox == [] and sms.outbox == []


@pytest.mark.django_db
def test_it_skips_a_reminder_whose_booking_changed_after_it_was_due(booking: Booking) -> None:
    # As if the booking were cancelled by a path that leaves its reminders alone (a failed one
    # waiting for its retry, say): the sender checks the booking itself.
    Booking.objects.filter(pk=booking.pk).update(status=BookingStatus.CANCELLED, cancel_reason=CancelReason.STAFF)
    with at(STARTS - timedelta(minutes=15)):
        report = service.send_due_reminders()
    assert (report.sent, report.skipped) == (0, 9)
    reminder = Reminder.objects.get(booking=booking, kind="15m", channel="email")
    assert (reminder.status, reminder.last_error) == ("cancelled", "Not sent: the booking is cancelled.")
    assert mail.outbox == []


@pytest.mark.django_db
def test_cancelling_also_cancels_a_failed_reminder_waiting_for_its_retry(booking: Booking, settings) -> None:
    settings.SMS_BACKEND = "tests.bookings.test_reminders.BrokenSMSBackend"
    with at(STARTS - timedelta(hours=24)):
        service.send_due_reminders()
        services.cancel(booking, reason=CancelReason.STAFF)
    assert statuses(booking)[("24h", "sms")] == ReminderStatus.CANCELLED
    assert statuses(booking)[("24h", "email")] == ReminderStatus.SENT


@pytest.mark.django_db
def test_rescheduling_moves_the_reminders_to_the_new_start(booking: Booking, tutor: Tutor) -> None:
    later = SessionFactory(product=booking.session.product, tutor=tutor, starts_at=STARTS + timedelta(days=2))
    with at(NOW):
        new = services.reschedule(booking, to_session=later)
    assert set(statuses(booking).values()) == {ReminderStatus.CANCELLED}
    moved = Reminder.objects.filter(booking=new)
    assert {r.scheduled_at for r in moved} == {
        later.starts_at - timedelta(hours=24),
        later.starts_at - timedelta(hours=1),
        later.starts_at - timedelta(minutes=15),
    }
    with at(STARTS):
        assert service.send_due_reminders().sent == 0  # the old times pass quietly


@pytest.mark.django_db
def test_it_uses_the_offsets_set_for_the_product(tutor: Tutor, settings) -> None:
    session = SessionFactory(tutor=tutor, starts_at=STARTS)
    settings.REMINDER_OFFSETS_BY_PRODUCT = {session.product.code: {"48h": 48 * 60}}
    with at(NOW):
        booking = confirmed_booking(session=session)
    assert {r.scheduled_at for r in Reminder.objects.filter(booking=booking)} == {STARTS - timedelta(hours=48)}


@pytest.mark.django_db
@pytest.mark.parametrize("tutored", [True, False])
@pytest.mark.parametrize("per_product", [True, False])
@pytest.mark.parametrize("phone", ["+998901234567", ""])
def test_a_confirmation_schedules_the_reminders_of_the_booking_as_loaded(settings, tutored, per_product, phone) -> None:
    """A confirmation (a state machine move) makes its start reminders from the rows the move returns,
    not from a booking read again: the same reminders as from the booking loaded with its session,
    product, tutor and student."""
    session = SessionFactory(tutor=TutorFactory() if tutored else None, starts_at=STARTS)
    if per_product:
        settings.REMINDER_OFFSETS_BY_PRODUCT = {session.product.code: {"48h": 48 * 60, "2h": 120}}
    with at(NOW):
        booking = services.book(session=session, student=StudentFactory(phone=phone))
        assert booking.status == BookingStatus.PENDING
        services.confirm(booking)

    loaded = Booking.objects.select_related("session__product", "session__tutor", "student").get(pk=booking.pk)
    expected = service.start_reminders(service.Attendance.of(loaded), now=NOW)
    made = Reminder.objects.filter(booking=booking, status=ReminderStatus.PENDING)
    fields = ("recipient_id", "channel", "kind", "scheduled_at")
    assert set(made.values_list(*fields)) == {tuple(getattr(r, f) for f in fields) for r in expected}
    assert len(expected) == made.count() == (2 if per_product else 3) * (3 if phone else 2)


# Claims


@pytest.mark.django_db
def test_it_sends_at_most_the_limit(booking: Booking) -> None:
    with at(STARTS - timedelta(minutes=5)):
        assert service.send_due_reminders(limit=4).sent == 4
        assert Reminder.objects.filter(status=ReminderStatus.PENDING).count() == 5
        assert service.send_due_reminders().sent == 5


@pytest.mark.django_db
def test_it_takes_back_the_claims_of_a_worker_that_died(booking: Booking) -> None:
    due = STARTS - timedelta(hours=24)
    stale = Reminder.objects.get(booking=booking, kind="24h", channel="email")
    fresh = Reminder.objects.get(booking=booking, kind="24h", channel="sms")
    Reminder.objects.filter(pk=stale.pk).update(status=ReminderStatus.SENDING, claimed_at=due - timedelta(minutes=11))
    Reminder.objects.filter(pk=fresh.pk).update(status=ReminderStatus.SENDING, claimed_at=due - timedelta(minutes=5))
    with at(due):
        report = service.send_due_reminders()
    assert report.reclaimed == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == ReminderStatus.SENT
    assert fresh.status == ReminderStatus.SENDING  # its worker may still be sending it


# Payment reminders


@pytest.mark.django_db
def test_a_pending_booking_is_reminded_to_pay_hours_before_it_expires(tutor: Tutor, settings) -> None:
    settings.PAYMENT_REMINDER_HOURS_BEFORE_EXPIRY = 3
    with at(NOW):
        booking = services.book(session=SessionFactory(tutor=tutor, starts_at=STARTS), student=StudentFactory())
    assert booking.expires_at == NOW + timedelta(hours=24)
    with at(NOW + timedelta(hours=20, minutes=59)):
        assert service.send_due_reminders().sent == 0
    assert not Reminder.objects.filter(booking=booking).exists()

    with at(NOW + timedelta(hours=21)):
        report = service.send_due_reminders()
        assert service.send_due_reminders().scheduled == 0  # once only

    assert (report.scheduled, report.sent) == (2, 2)
    assert statuses(booking) == {("payment", "email"): "sent", ("payment", "sms"): "sent"}
    (email,) = mail.outbox
    assert email.subject == f"Booking {booking.reference} is not paid yet"
    assert "350,000 UZS by Tuesday 7 May 2030, 10:00" in email.body
    assert "by Tue 7 May 10:00" in sms.outbox[0].body


@pytest.mark.django_db
def test_a_paid_bookings_payment_reminder_is_cancelled(tutor: Tutor) -> None:
    with at(NOW):
        booking = services.book(session=SessionFactory(tutor=tutor, starts_at=STARTS), student=StudentFactory())
    with at(NOW + timedelta(hours=21)):
        assert service.schedule_payment_reminder(booking) == 2
        services.confirm(booking)
        assert service.send_due_reminders().sent == 0
    assert {k: s for k, s in statuses(booking).items() if k[0] == "payment"} == {
        ("payment", "email"): "cancelled",
        ("payment", "sms"): "cancelled",
    }


# Two workers at once: with the claim each reminder goes out once; the control without it sends twice.

WORKERS_NOW = STARTS - timedelta(minutes=1)  # every reminder of the forty bookings is due


def forty_bookings_with_due_reminders() -> int:
    tutor = TutorFactory()
    with at(NOW):
        for n in range(40):
            booking = confirmed_booking(session=SessionFactory(tutor=tutor, starts_at=STARTS + timedelta(seconds=n)))
            RefreshToken.for_user(booking.student)  # signed in to the app: their bell keeps the reminders
    expected = Reminder.objects.count()
    assert expected == 40 * 9
    return expected


def two_workers_at_once[T](work: Callable[[], T]) -> list[T]:
    """``work`` in two threads, each on its own connection, started together; returns both results."""
    results: list[T] = []
    start = threading.Barrier(2, timeout=60)  # the timeout only turns a hang into a failure

    def worker() -> None:
        try:
            start.wait()
            results.append(work())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    close_old_connections()
    assert len(results) == 2
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_reminder_exactly_once(monkeypatch) -> None:
    monkeypatch.setattr(service, "BATCH_SIZE", 7)  # many small claims, so the workers interleave
    expected = forty_bookings_with_due_reminders()
    # Each worker sends its first batch only once both have taken one: the moment where the
    # control below, without a claim, sends everything twice.
    both_took_work = threading.Barrier(2, timeout=60)
    waited = threading.local()
    deliver = service._deliver

    def deliver_once_both_took_work(ids: list[int], now: datetime, report: service.DispatchReport) -> None:
        if not getattr(waited, "done", False):
            waited.done = True
            both_took_work.wait()
        deliver(ids, now, report)

    monkeypatch.setattr(service, "_deliver", deliver_once_both_took_work)

    reports = two_workers_at_once(lambda: service.send_due_reminders(now=WORKERS_NOW))

    assert sum(r.sent for r in reports) == expected
    assert all(r.sent > 0 for r in reports)  # both took a share
    assert set(Reminder.objects.values_list("status", "attempts").distinct()) == {(ReminderStatus.SENT, 1)}
    assert len(mail.outbox) == len(sms.outbox) == 40 * 3
    # One per push reminder for the tutor, and the same event for the booking's student.
    assert Notification.objects.filter(type="booking.reminder").count() == 2 * 40 * 3
    assert BookingEvent.objects.filter(action="reminder.sent").count() == expected


def naive_send_due_reminders(now: datetime, both_read: threading.Barrier) -> int:
    """Fetch the due reminders, then send and save each: no claim, so nothing tells a second worker
    that a reminder it read is already being sent."""
    due = list(
        Reminder.objects.filter(status=ReminderStatus.PENDING, scheduled_at__lte=now).select_related(*service.RELATED)
    )
    both_read.wait()
    backend = sms.get_sms_backend()
    for reminder in due:
        if reminder.channel == ReminderChannel.EMAIL:
            messages.email_for(reminder, now).send()
        elif reminder.channel == ReminderChannel.SMS:
            backend.send(messages.sms_for(reminder, now))
        else:
            readers = app_users([reminder.booking.student_id])
            type_, data, groups, recipients = messages.push_event_for(reminder, now, app_users=readers)
            publish(type_, data, groups=groups, recipients=recipients)
        reminder.status = ReminderStatus.SENT
        reminder.attempts += 1
        reminder.sent_at = now
        reminder.save(update_fields=["status", "attempts", "sent_at"])
        BookingEvent.objects.create(
            booking_id=reminder.booking_id, action="reminder.sent", data={"reminder": reminder.pk}
        )
    return len(due)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_control_without_the_claim_two_workers_at_once_send_every_reminder_twice() -> None:
    expected = forty_bookings_with_due_reminders()
    both_read = threading.Barrier(2, timeout=60)

    read = two_workers_at_once(lambda: naive_send_due_reminders(WORKERS_NOW, both_read))

    assert read == [expected, expected]  # each worker read, and then sent, every reminder
    assert len(mail.outbox) == len(sms.outbox) == 2 * 40 * 3
    assert Notification.objects.filter(type="booking.reminder").count() == 2 * 2 * 40 * 3  # tutor and student
    assert BookingEvent.objects.filter(action="reminder.sent").count() == 2 * expected
    # And the rows cannot tell: both workers wrote "sent, 1 attempt" over the same row.
    assert set(Reminder.objects.values_list("status", "attempts").distinct()) == {(ReminderStatus.SENT, 1)}


@pytest.mark.django_db
def test_a_batch_costs_the_same_queries_for_one_booking_or_many(tutor: Tutor) -> None:
    def queries_for(bookings: int, offset: int) -> int:
        start = STARTS + timedelta(days=offset)
        Reminder.objects.all().delete()  # the previous round's leftovers would be skipped here
        with at(NOW):
            for n in range(bookings):
                session = SessionFactory(tutor=tutor, starts_at=start + timedelta(minutes=n))
                confirmed_booking(session=session)
        with at(start - timedelta(hours=23)), CaptureQueriesContext(connection) as captured:
            assert service.send_due_reminders().sent == 3 * bookings
        return len(captured)

    assert queries_for(1, offset=0) == queries_for(6, offset=10)


# The student's app hears every start reminder, with a tutor or without


@pytest.mark.django_db
def test_a_student_of_a_session_without_a_tutor_gets_push_reminders_of_their_own() -> None:
    student = StudentFactory()
    RefreshToken.for_user(student)  # signed in to the app: their bell keeps notifications
    with at(NOW):
        mock = SessionFactory(tutor=None, starts_at=STARTS, room="Hall A")
        booking = confirmed_booking(session=mock, student=student)

    pushes = Reminder.objects.filter(booking=booking, channel=ReminderChannel.PUSH)
    assert sorted(pushes.values_list("kind", "recipient_id")) == [
        ("15m", student.pk),
        ("1h", student.pk),
        ("24h", student.pk),
    ]

    with at(STARTS - timedelta(hours=1)):
        service.send_due_reminders()

    heard = Notification.objects.filter(recipient=student, type="booking.reminder")
    assert heard.count() == 2  # 24 h and 1 h before; the 15-minute one is not due yet
    assert sorted(n.data["data"]["kind"] for n in heard) == ["1h", "24h"]
    assert {(n.data["data"]["reference"], n.data["data"]["time_zone"]) for n in heard} == {
        (booking.reference, "Asia/Tashkent")
    }
    assert all(booking.reference in n.message for n in heard)


@pytest.mark.django_db
def test_a_tutored_lesson_reminds_the_student_through_the_tutors_push_and_not_twice(booking: Booking) -> None:
    pushes = Reminder.objects.filter(booking=booking, channel=ReminderChannel.PUSH)
    assert set(pushes.values_list("recipient_id", flat=True)) == {booking.session.tutor.user_id}


@pytest.mark.django_db
def test_a_student_who_never_opened_the_app_gets_no_stored_reminder_but_the_tutor_does(booking: Booking) -> None:
    with at(STARTS - timedelta(hours=1)):
        service.send_due_reminders()

    assert not Notification.objects.filter(recipient=booking.student, type="booking.reminder").exists()
    tutor_user = booking.session.tutor.user
    assert Notification.objects.filter(recipient=tutor_user, type="booking.reminder").count() == 2
