"""``services.auto_complete``: bookings of ended sessions become completed, ended sessions close."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from bookings import services
from bookings.models import (
    Booking,
    BookingEvent,
    BookingStatus,
    Reminder,
    ReminderStatus,
    Session,
    SessionAction,
    SessionEvent,
    SessionStatus,
)
from realtime import events
from realtime.models import Notification
from tests.factories import LessonFactory, SessionFactory, StudentFactory, TutorFactory, booking_in, confirmed_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    """Every event ``auto_complete`` publishes: the bookings' moves (the state machine's) and the
    sessions' seats. The test's own setup is not counted."""
    sent: list[tuple[str, dict]] = []
    running = False
    original = services.auto_complete

    def publish_many(batch):
        if running:
            sent.extend((event[0], event[1]) for event in batch)
        return events.publish_many(batch)

    def publish_later(build):  # events that store no notification are built after commit
        if running:
            sent.extend((event[0], event[1]) for event in build())
        return events.publish_later(build)

    def auto_complete(**kwargs):
        nonlocal running
        running = True
        try:
            return original(**kwargs)
        finally:
            running = False

    with (
        mock.patch("bookings.services.state_machine.publish_many", publish_many),
        mock.patch("bookings.services.state_machine.publish_later", publish_later),
        mock.patch("bookings.services.seats.publish_many", publish_many),
        mock.patch.object(services, "auto_complete", auto_complete),
    ):
        yield lambda: sent


def test_nothing_changes_before_the_session_ends():
    booking = confirmed_booking(session=SessionFactory(capacity=3))
    with time_machine.travel(booking.session.ends_at - timedelta(seconds=1), tick=False):
        assert services.auto_complete() == services.CompletionReport(completed=0, sessions_closed=0)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert Session.objects.get(pk=booking.session_id).status == SessionStatus.OPEN


def test_at_the_end_confirmed_bookings_complete_like_complete_does_and_the_session_closes(published):
    tutor = TutorFactory()
    session = SessionFactory(product=LessonFactory(default_capacity=4), tutor=tutor)
    done = confirmed_booking(session=session)
    assert Reminder.objects.filter(booking=done, status=ReminderStatus.PENDING).exists()
    unpaid = services.book(session=session, student=StudentFactory())
    cancelled = booking_in(BookingStatus.CANCELLED, session=session)

    with time_machine.travel(session.ends_at, tick=False):
        report = services.auto_complete()

    assert report == services.CompletionReport(completed=1, sessions_closed=1)
    assert str(report) == "1 bookings completed, 1 sessions closed"
    done.refresh_from_db()
    assert done.status == BookingStatus.COMPLETED
    event = done.events.get(action="booking.completed")
    assert (event.actor, event.data, event.created_at) == (None, {"via": "system"}, session.ends_at)
    assert not Reminder.objects.filter(booking=done, status=ReminderStatus.PENDING).exists()
    assert Booking.objects.get(pk=unpaid.pk).status == BookingStatus.PENDING
    assert Booking.objects.get(pk=cancelled.pk).status == BookingStatus.CANCELLED
    session.refresh_from_db()
    assert (session.status, session.seats_taken) == (SessionStatus.CLOSED, 1)  # the pending one still holds its seat

    sent = published()
    assert [type for type, _ in sent] == ["booking.completed", "slot.updated", "slot.updated"]
    assert sent[0][1]["reference"] == done.reference and sent[0][1]["status"] == "completed"
    assert sent[-1][1] == {
        "session": session.pk,
        "capacity": 4,
        "seats_taken": 1,
        "seats_left": 3,
        "status": "closed",
        "seats_text": "closed",
    }
    assert Notification.objects.filter(recipient=tutor.user, type="booking.completed").count() == 1
    closed = SessionEvent.objects.get(session=session)
    assert (closed.action, closed.actor) == (SessionAction.CLOSED, None)
    assert closed.data == {"via": "system", "reason": "ended"}
    assert (closed.created_at, closed.describe()) == (session.ends_at, "The session ended")


def test_running_it_twice_changes_nothing_the_second_time(published):
    booking = confirmed_booking(session=SessionFactory(capacity=3))
    with time_machine.travel(booking.session.ends_at + timedelta(hours=1), tick=False):
        services.auto_complete()
        history = BookingEvent.objects.count()
        assert services.auto_complete() == services.CompletionReport()
    assert BookingEvent.objects.count() == history
    assert Session.objects.get(pk=booking.session_id).seats_taken == 0
    assert len(published()) == 3  # completed, slot after the batch, slot when closed: all from the first run


def test_it_works_through_many_sessions_in_small_batches():
    now = timezone.now()
    sessions = [SessionFactory(capacity=5, starts_at=now + timedelta(days=1, hours=i)) for i in range(3)]
    bookings = [confirmed_booking(session=session) for session in sessions for _ in range(2)]
    no_show = booking_in(BookingStatus.NO_SHOW, session=sessions[0])
    later = SessionFactory(starts_at=now + timedelta(days=5))
    upcoming = confirmed_booking(session=later)

    with time_machine.travel(now + timedelta(days=2), tick=False):
        report = services.auto_complete(batch_size=4)

    assert report == services.CompletionReport(completed=6, sessions_closed=3)
    assert set(Booking.objects.filter(pk__in=[b.pk for b in bookings]).values_list("status", flat=True)) == {
        BookingStatus.COMPLETED
    }
    assert BookingEvent.objects.filter(action="booking.completed").values("booking").distinct().count() == 6
    assert BookingEvent.objects.filter(action="booking.completed").count() == 6
    assert Booking.objects.get(pk=no_show.pk).status == BookingStatus.NO_SHOW
    assert (
        list(Session.objects.filter(pk__in=[s.pk for s in sessions]).values_list("seats_taken", flat=True)) == [0] * 3
    )
    assert Booking.objects.get(pk=upcoming.pk).status == BookingStatus.CONFIRMED
    assert Session.objects.get(pk=later.pk).status == SessionStatus.OPEN


def test_cancelled_and_already_closed_sessions_stay_as_they_are():
    now = timezone.now()
    cancelled = SessionFactory(starts_at=now + timedelta(days=1))
    services.cancel_session(cancelled)
    closed = SessionFactory(starts_at=now + timedelta(days=1, hours=4))
    services.close_session(closed)

    with time_machine.travel(now + timedelta(days=2), tick=False):
        assert services.auto_complete() == services.CompletionReport()

    assert Session.objects.get(pk=cancelled.pk).status == SessionStatus.CANCELLED
    assert Session.objects.get(pk=closed.pk).status == SessionStatus.CLOSED


def test_auto_completion_records_and_announces_a_completion_as_complete_does():
    """One core for both: the same history action and the same ``booking.completed`` payload keys."""
    tutor = TutorFactory()
    session = SessionFactory(product=LessonFactory(default_capacity=3), tutor=tutor)
    by_hand, by_run = (confirmed_booking(session=session) for _ in range(2))
    with time_machine.travel(session.ends_at, tick=False):
        services.complete(by_hand)
        assert services.auto_complete().completed == 1

    sent = {n.data["data"]["reference"]: n.data["data"] for n in Notification.objects.filter(type="booking.completed")}
    assert sent[by_run.reference].keys() - {"via"} == sent[by_hand.reference].keys()
    assert sent[by_run.reference]["student"] == str(by_run.student)
    assert by_run.events.get(action="booking.completed").data == {"via": "system"}
    assert by_hand.events.get(action="booking.completed").data == {}
    assert Session.objects.get(pk=session.pk).seats_taken == 0
