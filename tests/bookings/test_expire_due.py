from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db.models import F
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingEvent, BookingStatus, CancelReason, Reminder, ReminderStatus, Session
from realtime.models import Notification
from tests.factories import LessonFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db


def book_many(session, count: int) -> list[Booking]:
    return [services.book(session=session, student=StudentFactory()) for _ in range(count)]


def test_it_expires_exactly_at_the_deadline_and_not_before(session, student):
    booking = services.book(session=session, student=student)
    assert services.expire_due(now=booking.expires_at - timedelta(seconds=1)) == 0
    assert services.expire_due(now=booking.expires_at) == 1

    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.EXPIRED)
    assert booking.is_expired
    assert Session.objects.get(pk=session.pk).seats_taken == 0
    event = booking.events.get(action="booking.expired")
    assert event.actor is None  # the system did it
    assert event.data == {"reason": "expired"}


def test_it_leaves_confirmed_and_not_yet_due_bookings_alone():
    session = SessionFactory(capacity=10)
    due, paid = book_many(session, 2)
    services.record_payment(paid, provider="cash", amount=paid.price)
    later = SessionFactory(capacity=10, product=LessonFactory(payment_window_hours=48))
    not_due = services.book(session=later, student=StudentFactory())

    assert services.expire_due(now=timezone.now() + timedelta(hours=25)) == 1

    assert Booking.objects.get(pk=due.pk).status == BookingStatus.CANCELLED
    assert Booking.objects.get(pk=paid.pk).status == BookingStatus.CONFIRMED
    assert Booking.objects.get(pk=not_due.pk).status == BookingStatus.PENDING
    assert Session.objects.get(pk=session.pk).seats_taken == 1


def test_it_releases_every_seat_across_sessions_in_small_batches():
    sessions = [SessionFactory(capacity=10) for _ in range(3)]
    for index, session in enumerate(sessions):
        book_many(session, index + 2)  # 2, 3 and 4 bookings

    expired = services.expire_due(now=timezone.now() + timedelta(days=1), batch_size=2)

    assert expired == 9
    assert list(Session.objects.values_list("seats_taken", flat=True)) == [0, 0, 0]
    assert BookingEvent.objects.filter(action="booking.expired").count() == 9
    assert services.expire_due(now=timezone.now() + timedelta(days=1)) == 0  # running it again does nothing


def test_it_cancels_reminders_and_notifies_the_tutor(student):
    tutor = TutorFactory()
    session = SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=timezone.now() + timedelta(days=3))
    booking = services.book(session=session, student=student)
    Reminder.objects.create(
        booking=booking, recipient=student, channel="sms", kind="payment", scheduled_at=timezone.now()
    )
    services.expire_due(now=booking.expires_at)
    assert Reminder.objects.get(booking=booking).status == ReminderStatus.CANCELLED
    note = Notification.objects.get(recipient=tutor.user, type="booking.expired")
    assert booking.reference in note.message


def test_it_cancels_failed_reminders_waiting_for_a_retry_but_keeps_sent_ones(session, student):
    booking = services.book(session=session, student=student)
    now = timezone.now()
    retrying = Reminder.objects.create(
        booking=booking,
        recipient=student,
        channel="sms",
        kind="payment",
        scheduled_at=now,
        status=ReminderStatus.FAILED,
        next_attempt_at=now + timedelta(minutes=5),
    )
    sent = Reminder.objects.create(
        booking=booking,
        recipient=student,
        channel="email",
        kind="payment",
        scheduled_at=now,
        status=ReminderStatus.SENT,
    )
    services.expire_due(now=booking.expires_at)
    retrying.refresh_from_db()
    assert (retrying.status, retrying.next_attempt_at) == (ReminderStatus.CANCELLED, None)
    assert Reminder.objects.get(pk=sent.pk).status == ReminderStatus.SENT


def test_it_mails_only_students_with_an_address(session, django_capture_on_commit_callbacks):
    with_address = services.book(session=session, student=StudentFactory(email="aziz@example.com"))
    services.book(session=session, student=StudentFactory(email=""))
    with mock.patch("bookings.services.expiry.send_expiry_emails") as send:
        with django_capture_on_commit_callbacks(execute=True):
            assert services.expire_due(now=with_address.expires_at + timedelta(minutes=1)) == 2
    send.assert_called_once_with([with_address.pk])


def test_it_uses_the_clock_when_no_time_is_given(session, student):
    booking = services.book(session=session, student=student)
    with time_machine.travel(booking.expires_at + timedelta(seconds=1)):
        assert services.expire_due() == 1


def test_a_two_statement_sweep_races_with_a_payment_but_expire_due_does_not(session):
    """The race the issue names: release seats in one UPDATE, flip statuses in another.

    A payment confirming a booking between the two statements leaves it confirmed while its
    seat was already released. Interleaved here by hand, deterministically.
    """
    bookings = book_many(session, 3)
    deadline = bookings[-1].expires_at

    # Naive sweep, statement 1: count due bookings per session and release their seats.
    due = Booking.objects.filter(status=BookingStatus.PENDING, expires_at__lte=deadline)
    Session.objects.filter(pk=session.pk).update(seats_taken=F("seats_taken") - due.count())
    # ...a payment lands in between...
    services.record_payment(bookings[0], provider="click", amount=bookings[0].price)
    # Statement 2: flip the statuses of what is still pending.
    due.update(status=BookingStatus.CANCELLED, cancel_reason=CancelReason.EXPIRED)

    session.refresh_from_db()
    holding = Booking.objects.filter(session=session, status__in=["pending", "confirmed"]).count()
    assert (holding, session.seats_taken) == (1, 0)  # a confirmed booking without a seat: oversell ahead

    # expire_due flips and releases in one statement pair inside one transaction, keyed on the rows
    # it changed; a payment can only land before (booking no longer pending) or after (already expired).
    fresh_session = SessionFactory(capacity=5)
    first, second, _third = book_many(fresh_session, 3)
    services.record_payment(first, provider="click", amount=first.price)
    assert services.expire_due(now=deadline + timedelta(days=1)) == 2
    services.record_payment(second, provider="click", amount=second.price)  # after: seat re-taken
    fresh_session.refresh_from_db()
    holding = Booking.objects.filter(session=fresh_session, status__in=["pending", "confirmed"]).count()
    assert holding == fresh_session.seats_taken == 2


def test_the_sweep_records_and_announces_an_expiry_exactly_as_a_single_expiry_does():
    """One core for both: the same history row and the same ``booking.expired`` payload (product,
    start and student included), whether staff expire one booking or the sweep expires many."""
    tutor = TutorFactory()
    session = SessionFactory(product=LessonFactory(default_capacity=3), tutor=tutor)
    by_hand, by_sweep = book_many(session, 2)
    with time_machine.travel(by_sweep.expires_at + timedelta(seconds=1), tick=False):
        services.cancel(by_hand, reason=CancelReason.EXPIRED)
        assert services.expire_due() == 1

    sent = {n.data["data"]["reference"]: n.data["data"] for n in Notification.objects.filter(type="booking.expired")}
    single, swept = sent[by_hand.reference], sent[by_sweep.reference]
    assert single.keys() == swept.keys()
    assert {"product", "starts_at", "student", "reason", "summary"} <= swept.keys()
    assert (swept["product"], swept["student"], swept["reason"]) == (
        session.product.name,
        str(by_sweep.student),
        "expired",
    )
    assert swept["summary"].startswith(f"{by_sweep.reference} · {by_sweep.student} · ")
    hand_row, sweep_row = (b.events.get(action="booking.expired") for b in (by_hand, by_sweep))
    assert (hand_row.actor, hand_row.data) == (sweep_row.actor, sweep_row.data) == (None, {"reason": "expired"})
    assert Session.objects.get(pk=session.pk).seats_taken == 0


@pytest.mark.parametrize("tutored", [False, True])
def test_it_expires_any_number_of_bookings_in_the_same_number_of_queries(tutored):
    """Set-based: 3 due bookings or 30 (over 3 sessions) cost the same statements, none per row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def sweep(per_session: int) -> int:
        for _ in range(3):
            tutor = TutorFactory() if tutored else None
            product = LessonFactory(default_capacity=10) if tutored else None
            session = SessionFactory(tutor=tutor, capacity=10, **({"product": product} if product else {}))
            book_many(session, per_session)
        with CaptureQueriesContext(connection) as captured:
            assert services.expire_due(now=timezone.now() + timedelta(days=2)) == 3 * per_session
        return len(captured)

    assert sweep(1) == sweep(10)


def test_a_batch_cancels_the_waiting_reminders_of_its_bookings_only(student):
    """A batch's reminders are cancelled by a query of the bookings it moved, not a list of ids:
    every waiting reminder of those bookings goes, a sent one stays, another booking's stays."""
    session = SessionFactory(capacity=5)
    due = book_many(session, 3)
    later = services.book(session=SessionFactory(product=LessonFactory(payment_window_hours=72)), student=student)
    now = timezone.now()
    for booking in [*due, later]:
        Reminder.objects.create(
            booking=booking, recipient=booking.student, channel="sms", kind="payment", scheduled_at=now
        )
    Reminder.objects.create(
        booking=due[0], recipient=due[0].student, channel="email", kind="payment", scheduled_at=now, status="sent"
    )

    assert services.expire_due(now=now + timedelta(hours=25)) == 3

    statuses = dict(Reminder.objects.filter(channel="sms").values_list("booking_id", "status"))
    assert statuses == {**{b.pk: ReminderStatus.CANCELLED for b in due}, later.pk: ReminderStatus.PENDING}
    assert Reminder.objects.get(channel="email").status == ReminderStatus.SENT
