from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from bookings import services
from bookings.errors import AlreadyBooked, BookingNotAllowed, SessionFull
from bookings.models import Booking, BookingEvent, BookingStatus, Reminder, Session, SessionStatus
from realtime.models import Notification
from tests.factories import LessonFactory, ProductFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db


def test_it_holds_a_seat_with_a_pending_booking_that_expires_after_the_payment_window(session, student, operator):
    now = timezone.now().replace(microsecond=0)
    with time_machine.travel(now, tick=False):
        booking = services.book(session=session, student=student, actor=operator)

    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
    assert booking.expires_at == now + timedelta(hours=24)
    assert booking.price == session.product.price
    assert booking.created_by == operator
    assert session.seats_taken == 1
    assert Session.objects.get(pk=session.pk).seats_taken == 1
    assert len(booking.reference) == 7


def test_it_writes_the_history_with_the_actor(session, student, operator):
    booking = services.book(session=session, student=student, actor=operator, payment_method="click")

    event = BookingEvent.objects.get(booking=booking)
    assert event.action == "booking.created"
    assert event.actor == operator
    assert event.data["payment_method"] == "click"


def test_it_uses_the_products_payment_window(student):
    session = SessionFactory(
        product=ProductFactory(payment_window_hours=6), starts_at=timezone.now() + timedelta(days=5)
    )
    now = timezone.now().replace(microsecond=0)
    with time_machine.travel(now, tick=False):
        booking = services.book(session=session, student=student)
    assert booking.expires_at == now + timedelta(hours=6)


def test_it_never_lets_an_unpaid_booking_outlive_the_session_start(student):
    starts_at = timezone.now().replace(microsecond=0) + timedelta(hours=10)
    session = SessionFactory(starts_at=starts_at)
    booking = services.book(session=session, student=student)
    assert booking.expires_at == starts_at


def test_it_confirms_a_free_product_at_once(student):
    session = SessionFactory(product=ProductFactory(price=Decimal("0")))
    booking = services.book(session=session, student=student)
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.expires_at is None
    assert booking.confirmed_at is not None
    assert list(booking.events.values_list("action", flat=True)) == ["booking.created", "booking.confirmed"]


def test_it_confirms_at_once_for_an_auto_confirm_tutor_and_schedules_reminders(student):
    tutor = TutorFactory(auto_confirm=True)
    session = SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=timezone.now() + timedelta(days=2))
    booking = services.book(session=session, student=student)
    assert booking.status == BookingStatus.CONFIRMED
    assert Reminder.objects.filter(booking=booking, recipient=tutor.user, channel="push").count() == 3
    assert Reminder.objects.filter(booking=booking, recipient=student).count() == 6  # e-mail and SMS


def test_it_stores_a_notification_for_the_tutor(student):
    tutor = TutorFactory()
    session = SessionFactory(product=LessonFactory(), tutor=tutor)
    booking = services.book(session=session, student=student)
    note = Notification.objects.get(recipient=tutor.user)
    assert note.type == "booking.created"
    assert booking.reference in note.message
    assert note.data["data"]["reference"] == booking.reference


def test_it_publishes_booking_created_and_slot_updated_after_commit(
    session, student, django_capture_on_commit_callbacks
):
    from unittest import mock

    with mock.patch("realtime.events._deliver") as deliver:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.book(session=session, student=student)
        deliver.assert_not_called()  # nothing leaves before the commit
        for callback in callbacks:
            callback()
    sent = [(message["type"], groups) for call in deliver.call_args_list for message, groups, _ in call.args[0]]
    assert ("booking.created", ["staff", f"session.{session.pk}", f"student.{student.pk}"]) in sent
    slot = next(
        message
        for call in deliver.call_args_list
        for message, _, _ in call.args[0]
        if message["type"] == "slot.updated"
    )
    assert slot["data"] == {
        "session": session.pk,
        "capacity": 5,
        "seats_taken": 1,
        "seats_left": 4,
        "status": "open",
        "seats_text": "4 of 5 left",
    }


def test_it_refuses_a_full_session_and_writes_nothing(student):
    session = SessionFactory(capacity=1)
    services.book(session=session, student=StudentFactory())
    with pytest.raises(SessionFull, match="full"):
        services.book(session=session, student=student)
    assert Booking.objects.filter(student=student).count() == 0
    assert Session.objects.get(pk=session.pk).seats_taken == 1
    assert BookingEvent.objects.filter(booking__student=student).count() == 0


def test_it_refuses_a_second_active_booking_of_the_same_student(session, student):
    services.book(session=session, student=student)
    with pytest.raises(AlreadyBooked):
        services.book(session=session, student=student)
    assert Session.objects.get(pk=session.pk).seats_taken == 1


def test_it_books_again_after_a_cancellation(session, student):
    first = services.book(session=session, student=student)
    services.cancel(first, reason="staff")
    second = services.book(session=session, student=student)
    assert second.status == BookingStatus.PENDING
    assert Session.objects.get(pk=session.pk).seats_taken == 1


@pytest.mark.parametrize("status", [SessionStatus.CANCELLED, SessionStatus.CLOSED])
def test_it_refuses_a_session_that_is_not_open(student, status):
    session = SessionFactory(status=status)
    with pytest.raises(BookingNotAllowed, match=status):
        services.book(session=session, student=student)
    assert Session.objects.get(pk=session.pk).seats_taken == 0


def test_it_refuses_a_session_that_has_started(student):
    session = SessionFactory(starts_at=timezone.now() - timedelta(minutes=5))
    with pytest.raises(BookingNotAllowed, match="started"):
        services.book(session=session, student=student)


def test_it_refuses_inside_the_tutors_minimum_notice(student):
    tutor = TutorFactory(min_notice_hours=12)
    session = SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=timezone.now() + timedelta(hours=11))
    with pytest.raises(BookingNotAllowed, match="12 hours"):
        services.book(session=session, student=student)
    later = SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=timezone.now() + timedelta(hours=13))
    assert services.book(session=later, student=student).status == BookingStatus.PENDING


def test_it_refuses_an_unknown_payment_method(session, student):
    with pytest.raises(BookingNotAllowed, match="payment method"):
        services.book(session=session, student=student, payment_method="bitcoin")
    assert Booking.objects.count() == 0


def test_it_fills_the_session_exactly_to_capacity():
    session = SessionFactory(capacity=3)
    for _ in range(3):
        services.book(session=session, student=StudentFactory())
    with pytest.raises(SessionFull):
        services.book(session=session, student=StudentFactory())
    session.refresh_from_db()
    assert (session.seats_taken, session.seats_left) == (3, 0)


def test_saving_a_stale_session_never_writes_its_seat_count_back(session, student):
    stale = Session.objects.get(pk=session.pk)
    services.book(session=session, student=student)
    stale.room = "Hall B"
    stale.save()
    fresh = Session.objects.get(pk=session.pk)
    assert (fresh.room, fresh.seats_taken) == ("Hall B", 1)


def test_it_reads_the_session_with_its_product_and_tutor_in_one_query():
    """What book() decides on (the session, its product, its tutor) is one SELECT, for a session
    with a tutor and one without."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    tutored = SessionFactory(product=LessonFactory(), tutor=TutorFactory(auto_confirm=True, min_notice_hours=6))
    for session in (tutored, SessionFactory()):
        student = StudentFactory()
        with CaptureQueriesContext(connection) as captured:
            services.book(session=session, student=student)
        reads = [q["sql"] for q in captured if q["sql"].startswith("SELECT")]
        assert "bookings_product" in reads[0] and "bookings_tutor" in reads[0]
        assert not [sql for sql in reads[1:] if "bookings_product" in sql or "bookings_tutor" in sql]


def test_it_writes_the_booking_and_its_history_in_few_statements(session, student):
    """The hot path: one read (bookings.services.sql.read_session), the booking and its history, the
    seat (a conditional UPDATE that returns the new counts: sql.take_seat), and the student's
    notification of the booking if they use the app (one read says whether they do)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        services.book(session=session, student=student)
    statements = [q["sql"].split()[0].upper() for q in captured if "SAVEPOINT" not in q["sql"]]
    assert statements[:2] == ["SELECT", "INSERT"]
    # history, app user?, seat with its counts (no app: no notification stored)
    assert sorted(statements[2:]) == ["INSERT", "SELECT", "UPDATE"]
    seat = next(q["sql"] for q in captured if q["sql"].startswith("UPDATE"))
    assert "RETURNING" in seat  # the counts come back with the seat
    RefreshToken.for_user(student)  # now they have signed in to the app
    another = SessionFactory()
    with CaptureQueriesContext(connection) as captured:
        services.book(session=another, student=student)
    statements = [q["sql"].split()[0].upper() for q in captured if "SAVEPOINT" not in q["sql"]]
    assert sorted(statements[2:]) == ["INSERT", "INSERT", "SELECT", "UPDATE"]  # and their notification
