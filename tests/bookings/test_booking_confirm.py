"""services.confirm: a pending booking becomes confirmed, keeps its seat and gets its reminders."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from bookings import services
from bookings.errors import InvalidTransition
from bookings.models import (
    Booking,
    BookingEvent,
    BookingStatus,
    Reminder,
    ReminderChannel,
    ReminderStatus,
    Session,
    Tutor,
)
from realtime.models import Notification
from tests.factories import SessionFactory, StudentFactory, TutorFactory, booking_in

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 5, 6, 10, 0, tzinfo=timezone.get_default_timezone())


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def tutor() -> Tutor:
    return TutorFactory()


@pytest.fixture
def tutored(tutor: Tutor) -> Session:
    return SessionFactory(tutor=tutor, capacity=5, starts_at=NOW + timedelta(days=3))


@pytest.fixture
def pending(tutored: Session, student) -> Booking:
    booking = services.book(session=tutored, student=student)
    assert booking.status == BookingStatus.PENDING
    return booking


def seats_taken(session: Session) -> int:
    return Session.objects.values_list("seats_taken", flat=True).get(pk=session.pk)


def actions(booking: Booking) -> list[str]:
    return list(BookingEvent.objects.filter(booking=booking).order_by("id").values_list("action", flat=True))


# Allowed


def test_it_confirms_a_pending_booking(pending: Booking, operator) -> None:
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        confirmed = services.confirm(pending, actor=operator)

    stored = Booking.objects.get(pk=pending.pk)
    assert confirmed.status == stored.status == BookingStatus.CONFIRMED
    assert stored.confirmed_at == NOW + timedelta(hours=2)
    assert stored.expires_at is None  # nothing left to expire
    assert stored.cancel_reason == ""


def test_it_keeps_the_seat(pending: Booking) -> None:
    assert seats_taken(pending.session) == 1

    services.confirm(pending)

    assert seats_taken(pending.session) == 1


def test_it_writes_a_confirmed_event_with_the_actor(pending: Booking, operator) -> None:
    services.confirm(pending, actor=operator)

    event = BookingEvent.objects.filter(booking=pending).latest("id")
    assert actions(pending) == ["booking.created", "booking.confirmed"]
    assert event.action == "booking.confirmed"
    assert event.actor == operator
    assert event.data == {"via": "staff"}
    assert event.created_at == NOW


def test_it_records_the_system_when_there_is_no_actor(pending: Booking) -> None:
    services.confirm(pending)

    event = BookingEvent.objects.filter(booking=pending).latest("id")
    assert event.actor is None
    assert event.actor_label == "system"
    assert event.data == {"via": "system"}


def test_it_updates_the_instance_passed_in(pending: Booking) -> None:
    returned = services.confirm(pending)

    assert returned is not pending
    assert pending.status == BookingStatus.CONFIRMED
    assert pending.confirmed_at == NOW
    assert pending.expires_at is None


def test_it_confirms_from_a_stale_instance(pending: Booking) -> None:
    stale = Booking.objects.get(pk=pending.pk)
    Booking.objects.filter(pk=pending.pk).update(payment_method="click")  # changed elsewhere meanwhile

    services.confirm(stale)

    assert stale.status == BookingStatus.CONFIRMED
    stored = Booking.objects.get(pk=pending.pk)
    assert (stored.status, stored.payment_method) == (BookingStatus.CONFIRMED, "click")


# Reminders


def test_it_schedules_reminders_at_24h_1h_and_15m_before_the_start(pending: Booking, tutor: Tutor) -> None:
    assert not Reminder.objects.filter(booking=pending).exists()  # none while unpaid

    services.confirm(pending)

    start = pending.session.starts_at
    student = pending.student
    expected = {
        (kind, recipient, channel, start - offset)
        for kind, offset in [
            ("24h", timedelta(hours=24)),
            ("1h", timedelta(hours=1)),
            ("15m", timedelta(minutes=15)),
        ]
        for recipient, channel in [
            (student.pk, ReminderChannel.EMAIL),
            (student.pk, ReminderChannel.SMS),
            (tutor.user.pk, ReminderChannel.PUSH),
        ]
    }
    reminders = Reminder.objects.filter(booking=pending)
    assert {(r.kind, r.recipient_id, r.channel, r.scheduled_at) for r in reminders} == expected
    assert {r.status for r in reminders} == {ReminderStatus.PENDING}


def test_it_skips_reminders_whose_time_has_passed(student, tutor: Tutor) -> None:
    session = SessionFactory(tutor=tutor, starts_at=NOW + timedelta(hours=3))
    booking = services.book(session=session, student=student)

    # 24h before is long gone, 1h before (NOW + 2h) has just passed; only 15m before is ahead.
    with time_machine.travel(NOW + timedelta(hours=2, minutes=30), tick=False):
        services.confirm(booking)

    reminders = Reminder.objects.filter(booking=booking)
    assert {r.kind for r in reminders} == {"15m"}
    assert {r.channel for r in reminders} == {ReminderChannel.EMAIL, ReminderChannel.SMS, ReminderChannel.PUSH}
    assert {r.scheduled_at for r in reminders} == {session.starts_at - timedelta(minutes=15)}


def test_a_session_without_a_tutor_pushes_its_reminders_to_the_student_alone(student) -> None:
    session = SessionFactory(tutor=None, starts_at=NOW + timedelta(days=2))
    booking = services.book(session=session, student=student)

    services.confirm(booking)

    reminders = Reminder.objects.filter(booking=booking)
    assert reminders.count() == 9  # three offsets: e-mail, SMS and the student's app
    assert {r.channel for r in reminders} == {ReminderChannel.EMAIL, ReminderChannel.SMS, ReminderChannel.PUSH}
    assert {r.recipient_id for r in reminders} == {student.pk}


def test_it_reminds_the_student_only_on_the_channels_they_have(tutored: Session) -> None:
    no_phone = StudentFactory(phone="")
    booking = services.book(session=tutored, student=no_phone)

    services.confirm(booking)

    student_channels = set(
        Reminder.objects.filter(booking=booking, recipient=no_phone).values_list("channel", flat=True)
    )
    assert student_channels == {ReminderChannel.EMAIL}


# Notifications


def test_it_notifies_the_sessions_tutor(pending: Booking, tutor: Tutor) -> None:
    services.confirm(pending)

    notification = Notification.objects.get(recipient=tutor.user, type="booking.confirmed")
    assert notification.title == "Booking confirmed"
    assert pending.reference in notification.message
    assert notification.data["type"] == "booking.confirmed"
    assert notification.data["data"]["reference"] == pending.reference
    assert notification.data["data"]["status"] == BookingStatus.CONFIRMED
    assert notification.read is False


def test_it_notifies_the_tutor_and_the_student_and_nobody_else(pending: Booking, tutor: Tutor) -> None:
    RefreshToken.for_user(pending.student)  # the student uses the app: their bell keeps it
    services.confirm(pending)

    assert set(Notification.objects.filter(type="booking.confirmed").values_list("recipient", flat=True)) == {
        tutor.user.pk,
        pending.student_id,
    }


def test_without_a_tutor_only_the_student_is_notified(student) -> None:
    RefreshToken.for_user(student)  # the student uses the app: their bell keeps it
    booking = services.book(session=SessionFactory(tutor=None), student=student)

    services.confirm(booking)

    assert list(Notification.objects.filter(type="booking.confirmed").values_list("recipient", flat=True)) == [
        student.pk
    ]


# Refused


@pytest.mark.parametrize(
    "status",
    [BookingStatus.CONFIRMED, BookingStatus.CANCELLED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW],
)
def test_it_refuses_to_confirm_a_booking_that_is_not_pending(tutored: Session, status: str) -> None:
    booking = booking_in(status, session=tutored)
    seats = seats_taken(tutored)
    history = actions(booking)
    reminders = list(Reminder.objects.filter(booking=booking).values_list("pk", "status"))

    with pytest.raises(InvalidTransition) as refused:
        services.confirm(booking)

    label = BookingStatus(status).label.lower()
    assert refused.value.message == f"Booking {booking.reference} is {label}: it cannot be confirmed."
    assert Booking.objects.get(pk=booking.pk).status == status
    assert actions(booking) == history  # a refusal writes no history
    assert seats_taken(tutored) == seats
    assert list(Reminder.objects.filter(booking=booking).values_list("pk", "status")) == reminders


def test_it_refuses_a_booking_that_has_expired(pending: Booking) -> None:
    with time_machine.travel(pending.expires_at + timedelta(minutes=1), tick=False):
        assert services.expire_due() == 1

        with pytest.raises(InvalidTransition, match="is cancelled: it cannot be confirmed"):
            services.confirm(pending)

    assert Booking.objects.get(pk=pending.pk).status == BookingStatus.CANCELLED
    assert seats_taken(pending.session) == 0
    assert not Reminder.objects.filter(booking=pending).exists()


def test_it_refuses_a_stale_instance_cancelled_elsewhere(pending: Booking) -> None:
    services.cancel(Booking.objects.get(pk=pending.pk), reason="staff")
    assert pending.status == BookingStatus.PENDING  # this copy does not know yet

    with pytest.raises(InvalidTransition):
        services.confirm(pending)

    assert Booking.objects.get(pk=pending.pk).status == BookingStatus.CANCELLED
    assert seats_taken(pending.session) == 0
    assert "booking.confirmed" not in actions(pending)
    assert not Notification.objects.filter(type="booking.confirmed").exists()


def test_it_refuses_a_booking_confirmed_on_creation(student) -> None:
    auto = TutorFactory(auto_confirm=True)
    booking = services.book(session=SessionFactory(tutor=auto), student=student)
    assert booking.status == BookingStatus.CONFIRMED

    with pytest.raises(InvalidTransition):
        services.confirm(booking)

    assert actions(booking).count("booking.confirmed") == 1
