"""services.complete: a confirmed booking whose session has started (or that has a result) is completed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from bookings import services
from bookings.errors import BookingNotAllowed, InvalidTransition
from bookings.models import (
    Booking,
    BookingEvent,
    BookingStatus,
    Reminder,
    ReminderStatus,
    Session,
    Tutor,
)
from realtime.models import Notification
from tests.factories import ResultFactory, SessionFactory, StudentFactory, TutorFactory, booking_in

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 5, 6, 10, 0, tzinfo=timezone.get_default_timezone())
STARTS_AT = NOW + timedelta(days=3)


def frozen(at: datetime) -> time_machine.travel:
    return time_machine.travel(at, tick=False)


@pytest.fixture(autouse=True)
def _frozen():
    with frozen(NOW):
        yield


@pytest.fixture
def tutor() -> Tutor:
    return TutorFactory()


@pytest.fixture
def tutored(tutor: Tutor) -> Session:
    return SessionFactory(tutor=tutor, capacity=5, starts_at=STARTS_AT)


@pytest.fixture
def confirmed(tutored: Session, student) -> Booking:
    return services.confirm(services.book(session=tutored, student=student))


def after_start() -> time_machine.travel:
    return frozen(STARTS_AT + timedelta(minutes=5))


def seats_taken(session: Session) -> int:
    return Session.objects.values_list("seats_taken", flat=True).get(pk=session.pk)


def actions(booking: Booking) -> list[str]:
    return list(BookingEvent.objects.filter(booking=booking).order_by("id").values_list("action", flat=True))


def status_of(booking: Booking) -> str:
    return Booking.objects.values_list("status", flat=True).get(pk=booking.pk)


# Allowed


def test_it_completes_a_confirmed_booking_after_the_session_started(confirmed: Booking) -> None:
    with after_start():
        completed = services.complete(confirmed)

    assert completed.status == status_of(confirmed) == BookingStatus.COMPLETED


def test_it_completes_exactly_at_the_start(confirmed: Booking) -> None:
    with frozen(STARTS_AT):
        services.complete(confirmed)

    assert status_of(confirmed) == BookingStatus.COMPLETED


def test_it_frees_the_seat_count(confirmed: Booking, tutored: Session) -> None:
    assert seats_taken(tutored) == 1

    with after_start():
        services.complete(confirmed)

    assert seats_taken(tutored) == 0  # completed bookings hold no seat


def test_it_frees_only_the_completed_bookings_seat(confirmed: Booking, tutored: Session) -> None:
    services.book(session=tutored, student=StudentFactory())  # stays pending
    services.confirm(services.book(session=tutored, student=StudentFactory()))
    assert seats_taken(tutored) == 3

    with after_start():
        services.complete(confirmed)

    assert seats_taken(tutored) == 2


def test_it_writes_a_completed_event_with_the_actor(confirmed: Booking, operator) -> None:
    with after_start():
        services.complete(confirmed, actor=operator)

    event = BookingEvent.objects.filter(booking=confirmed).latest("id")
    assert actions(confirmed) == ["booking.created", "booking.confirmed", "booking.completed"]
    assert event.actor == operator
    assert event.created_at == STARTS_AT + timedelta(minutes=5)


def test_it_records_the_system_when_there_is_no_actor(confirmed: Booking) -> None:
    with after_start():
        services.complete(confirmed)

    event = BookingEvent.objects.filter(booking=confirmed).latest("id")
    assert (event.action, event.actor_label) == ("booking.completed", "system")


def test_it_updates_the_instance_passed_in(confirmed: Booking) -> None:
    stale = Booking.objects.get(pk=confirmed.pk)

    with after_start():
        services.complete(stale)

    assert stale.status == BookingStatus.COMPLETED


def test_it_completes_a_booking_with_a_result_before_the_session_starts(confirmed: Booking, tutored: Session) -> None:
    ResultFactory(booking=confirmed)  # a result was entered directly, not via record_result

    services.complete(confirmed)

    assert status_of(confirmed) == BookingStatus.COMPLETED
    assert seats_taken(tutored) == 0


# Reminders and notifications


def test_it_cancels_the_pending_reminders(confirmed: Booking) -> None:
    reminders = Reminder.objects.filter(booking=confirmed)
    assert reminders.count() == 9
    sent = reminders.get(kind="24h", channel="email")
    Reminder.objects.filter(pk=sent.pk).update(status=ReminderStatus.SENT)  # as the sender task would

    with after_start():
        services.complete(confirmed)

    statuses = dict(reminders.values_list("pk", "status"))
    assert statuses.pop(sent.pk) == ReminderStatus.SENT  # already delivered: left alone
    assert set(statuses.values()) == {ReminderStatus.CANCELLED}


def test_it_notifies_the_sessions_tutor(confirmed: Booking, tutor: Tutor) -> None:
    with after_start():
        services.complete(confirmed)

    notification = Notification.objects.get(type="booking.completed")
    assert notification.recipient == tutor.user
    assert notification.title == "Booking completed"
    assert confirmed.reference in notification.message
    assert notification.data["data"]["status"] == BookingStatus.COMPLETED


def test_it_stores_no_notification_without_a_tutor(student) -> None:
    booking = services.confirm(services.book(session=SessionFactory(starts_at=STARTS_AT), student=student))

    with after_start():
        services.complete(booking)

    assert not Notification.objects.filter(type="booking.completed").exists()


# Refused


def test_it_refuses_to_complete_before_the_session_starts(confirmed: Booking, tutored: Session) -> None:
    history = actions(confirmed)

    with frozen(STARTS_AT - timedelta(seconds=1)), pytest.raises(BookingNotAllowed, match="has not started yet"):
        services.complete(confirmed)

    assert status_of(confirmed) == BookingStatus.CONFIRMED
    assert actions(confirmed) == history
    assert seats_taken(tutored) == 1
    assert set(Reminder.objects.filter(booking=confirmed).values_list("status", flat=True)) == {ReminderStatus.PENDING}
    assert not Notification.objects.filter(type="booking.completed").exists()


@pytest.mark.parametrize("started", [False, True])
def test_it_refuses_a_pending_booking(tutored: Session, student, started: bool) -> None:
    pending = services.book(session=tutored, student=student)
    when = STARTS_AT + timedelta(minutes=5) if started else NOW

    with frozen(when), pytest.raises(InvalidTransition, match="is pending payment: it cannot be completed"):
        services.complete(pending)

    assert status_of(pending) == BookingStatus.PENDING
    assert seats_taken(tutored) == 1  # still holding its seat
    assert "booking.completed" not in actions(pending)


@pytest.mark.parametrize("status", [BookingStatus.CANCELLED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW])
def test_it_refuses_a_finished_booking(tutored: Session, status: str) -> None:
    booking = booking_in(status, session=tutored)
    history = actions(booking)
    notifications = Notification.objects.count()

    with frozen(STARTS_AT + timedelta(hours=1)), pytest.raises(InvalidTransition) as refused:
        services.complete(booking)

    label = BookingStatus(status).label.lower()
    assert refused.value.message == f"Booking {booking.reference} is {label}: it cannot be completed."
    assert status_of(booking) == status
    assert actions(booking) == history
    assert seats_taken(tutored) == 0
    assert Notification.objects.count() == notifications
