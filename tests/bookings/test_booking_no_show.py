"""services.mark_no_show: a confirmed booking whose session has started, and nobody came."""

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


def after_start() -> time_machine.travel:
    return frozen(STARTS_AT + timedelta(minutes=20))


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


def seats_taken(session: Session) -> int:
    return Session.objects.values_list("seats_taken", flat=True).get(pk=session.pk)


def actions(booking: Booking) -> list[str]:
    return list(BookingEvent.objects.filter(booking=booking).order_by("id").values_list("action", flat=True))


def status_of(booking: Booking) -> str:
    return Booking.objects.values_list("status", flat=True).get(pk=booking.pk)


# Allowed


def test_it_marks_a_confirmed_booking_as_a_no_show_after_the_start(confirmed: Booking) -> None:
    with after_start():
        marked = services.mark_no_show(confirmed)

    assert marked.status == status_of(confirmed) == BookingStatus.NO_SHOW
    assert marked.cancel_reason == ""


def test_it_marks_a_no_show_exactly_at_the_start(confirmed: Booking) -> None:
    with frozen(STARTS_AT):
        services.mark_no_show(confirmed)

    assert status_of(confirmed) == BookingStatus.NO_SHOW


def test_it_frees_the_seat_count(confirmed: Booking, tutored: Session) -> None:
    services.confirm(services.book(session=tutored, student=StudentFactory()))
    assert seats_taken(tutored) == 2

    with after_start():
        services.mark_no_show(confirmed)

    assert seats_taken(tutored) == 1  # a no-show holds no seat; the other booking still does


def test_it_writes_a_no_show_event_with_the_actor(confirmed: Booking, operator) -> None:
    with after_start():
        services.mark_no_show(confirmed, actor=operator)

    event = BookingEvent.objects.filter(booking=confirmed).latest("id")
    assert actions(confirmed) == ["booking.created", "booking.confirmed", "booking.no_show"]
    assert event.actor == operator
    assert event.created_at == STARTS_AT + timedelta(minutes=20)


def test_it_records_the_system_when_there_is_no_actor(confirmed: Booking) -> None:
    with after_start():
        services.mark_no_show(confirmed)

    event = BookingEvent.objects.filter(booking=confirmed).latest("id")
    assert (event.action, event.actor_label) == ("booking.no_show", "system")


def test_it_updates_the_instance_passed_in(confirmed: Booking) -> None:
    stale = Booking.objects.get(pk=confirmed.pk)

    with after_start():
        returned = services.mark_no_show(stale)

    assert returned is not stale
    assert stale.status == BookingStatus.NO_SHOW


def test_it_cancels_the_pending_reminders(confirmed: Booking) -> None:
    assert Reminder.objects.filter(booking=confirmed, status=ReminderStatus.PENDING).count() == 9

    with after_start():
        services.mark_no_show(confirmed)

    assert set(Reminder.objects.filter(booking=confirmed).values_list("status", flat=True)) == {
        ReminderStatus.CANCELLED
    }


def test_it_notifies_the_sessions_tutor(confirmed: Booking, tutor: Tutor) -> None:
    with after_start():
        services.mark_no_show(confirmed)

    notification = Notification.objects.get(type="booking.no_show")
    assert notification.recipient == tutor.user
    assert notification.title == "No-show"
    assert confirmed.reference in notification.message
    assert notification.data["data"]["status"] == BookingStatus.NO_SHOW


def test_it_stores_no_notification_without_a_tutor(student) -> None:
    booking = services.confirm(services.book(session=SessionFactory(starts_at=STARTS_AT), student=student))

    with after_start():
        services.mark_no_show(booking)

    assert not Notification.objects.filter(type="booking.no_show").exists()


# Refused


@pytest.mark.parametrize("before", [timedelta(days=2), timedelta(seconds=1)])
def test_it_refuses_before_the_session_starts(confirmed: Booking, tutored: Session, before: timedelta) -> None:
    history = actions(confirmed)

    with frozen(STARTS_AT - before), pytest.raises(BookingNotAllowed, match="nobody can be a no-show"):
        services.mark_no_show(confirmed)

    assert status_of(confirmed) == BookingStatus.CONFIRMED
    assert actions(confirmed) == history
    assert seats_taken(tutored) == 1
    assert set(Reminder.objects.filter(booking=confirmed).values_list("status", flat=True)) == {ReminderStatus.PENDING}
    assert not Notification.objects.filter(type="booking.no_show").exists()


def test_it_refuses_before_the_start_even_with_a_result(confirmed: Booking) -> None:
    # A result lets a booking be completed early, never marked absent.
    ResultFactory(booking=confirmed)

    with pytest.raises(BookingNotAllowed):
        services.mark_no_show(confirmed)

    assert status_of(confirmed) == BookingStatus.CONFIRMED


@pytest.mark.parametrize("started", [False, True])
def test_it_refuses_a_pending_booking(tutored: Session, student, started: bool) -> None:
    pending = services.book(session=tutored, student=student)
    when = STARTS_AT + timedelta(minutes=20) if started else NOW

    with frozen(when), pytest.raises(InvalidTransition, match="is pending payment: it cannot be marked as a no-show"):
        services.mark_no_show(pending)

    assert status_of(pending) == BookingStatus.PENDING
    assert seats_taken(tutored) == 1
    assert "booking.no_show" not in actions(pending)


@pytest.mark.parametrize("status", [BookingStatus.CANCELLED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW])
def test_it_refuses_a_finished_booking(tutored: Session, status: str) -> None:
    booking = booking_in(status, session=tutored)
    history = actions(booking)
    notifications = Notification.objects.count()

    with after_start(), pytest.raises(InvalidTransition) as refused:
        services.mark_no_show(booking)

    label = BookingStatus(status).label.lower()
    assert refused.value.message == f"Booking {booking.reference} is {label}: it cannot be marked as a no-show."
    assert status_of(booking) == status
    assert actions(booking) == history
    assert seats_taken(tutored) == 0
    assert Notification.objects.count() == notifications
