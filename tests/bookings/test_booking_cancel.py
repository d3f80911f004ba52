from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from bookings import services
from bookings.errors import BookingNotAllowed, InvalidTransition
from bookings.models import BookingEvent, BookingStatus, CancelReason, Reminder, ReminderStatus, Session
from realtime.models import Notification
from tests.factories import LessonFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("paid", [False, True])
def test_it_releases_the_seat_of_a_pending_or_confirmed_booking(session, student, operator, paid):
    booking = services.book(session=session, student=student)
    if paid:
        services.record_payment(booking, provider="cash", amount=booking.price)
    services.cancel(booking, reason=CancelReason.STAFF, actor=operator)

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancel_reason == CancelReason.STAFF
    assert booking.cancelled_at is not None
    assert Session.objects.get(pk=session.pk).seats_taken == 0
    event = BookingEvent.objects.filter(booking=booking).last()
    assert (event.action, event.actor, event.data["reason"]) == ("booking.cancelled", operator, "staff")


def test_it_cancels_the_pending_reminders(session, student):
    booking = services.book(session=session, student=student)
    services.confirm(booking)
    assert Reminder.objects.filter(booking=booking, status=ReminderStatus.PENDING).exists()
    services.cancel(booking, reason=CancelReason.STAFF)
    assert not Reminder.objects.filter(booking=booking, status=ReminderStatus.PENDING).exists()
    assert Reminder.objects.filter(booking=booking, status=ReminderStatus.CANCELLED).exists()


def test_it_updates_the_callers_instance(session, student):
    booking = services.book(session=session, student=student)
    result = services.cancel(booking, reason=CancelReason.STAFF)
    assert booking.status == result.status == BookingStatus.CANCELLED


@pytest.mark.parametrize("reason", [CancelReason.STAFF, CancelReason.STUDENT])
def test_it_refuses_to_cancel_twice(session, student, reason):
    booking = services.book(session=session, student=student)
    services.cancel(booking, reason=CancelReason.STAFF)
    with pytest.raises(InvalidTransition, match="cancelled"):
        services.cancel(booking, reason=reason)
    assert Session.objects.get(pk=session.pk).seats_taken == 0
    assert BookingEvent.objects.filter(booking=booking, action="booking.cancelled").count() == 1


def test_it_refuses_an_unknown_reason(session, student):
    booking = services.book(session=session, student=student)
    with pytest.raises(BookingNotAllowed, match="reason"):
        services.cancel(booking, reason="bored")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING


def test_it_stores_a_notification_for_the_tutor(student):
    tutor = TutorFactory()
    session = SessionFactory(product=LessonFactory(), tutor=tutor)
    booking = services.book(session=session, student=student)
    services.cancel(booking, reason=CancelReason.TUTOR)
    assert Notification.objects.filter(recipient=tutor.user, type="booking.cancelled").count() == 1


def _lesson_with_policy(policy: str, starts_in: timedelta):
    tutor = TutorFactory(cancellation_policy=policy, min_notice_hours=0)
    return SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=timezone.now() + starts_in)


@pytest.mark.parametrize(
    ("policy", "cutoff"),
    [("flexible", timedelta(hours=2)), ("moderate", timedelta(hours=24)), ("strict", timedelta(hours=72))],
)
def test_it_lets_a_student_cancel_free_until_the_policy_cutoff(student, policy, cutoff):
    session = _lesson_with_policy(policy, timedelta(days=10))
    assert services.free_cancellation_until(session) == session.starts_at - cutoff

    on_time = services.book(session=session, student=student)
    with time_machine.travel(session.starts_at - cutoff - timedelta(minutes=1)):
        services.cancel(on_time, reason=CancelReason.STUDENT)
    assert on_time.status == BookingStatus.CANCELLED

    late = services.book(session=session, student=StudentFactory())
    with time_machine.travel(session.starts_at - cutoff + timedelta(minutes=1)):
        with pytest.raises(BookingNotAllowed, match=f"{policy} policy"):
            services.cancel(late, reason=CancelReason.STUDENT)
    late.refresh_from_db()
    assert late.status == BookingStatus.PENDING


def test_it_lets_staff_override_a_late_student_cancellation_and_records_it(student, operator):
    session = _lesson_with_policy("strict", timedelta(hours=30))
    booking = services.book(session=session, student=student)
    with pytest.raises(BookingNotAllowed):
        services.cancel(booking, reason=CancelReason.STUDENT, actor=operator)

    services.cancel(booking, reason=CancelReason.STUDENT, actor=operator, override_policy=True)

    event = booking.events.get(action="booking.cancelled")
    assert event.actor == operator
    assert event.data == {"reason": "student", "policy": "strict", "late": True, "policy_overridden": True}
    assert Session.objects.get(pk=session.pk).seats_taken == 0


def test_it_refuses_an_override_without_staff(student):
    session = _lesson_with_policy("strict", timedelta(hours=30))
    booking = services.book(session=session, student=student)
    with pytest.raises(BookingNotAllowed, match="Only staff"):
        services.cancel(booking, reason=CancelReason.STUDENT, actor=student, override_policy=True)


def test_it_applies_the_default_policy_to_sessions_without_a_tutor(student, settings):
    settings.DEFAULT_CANCELLATION_POLICY = "flexible"
    session = SessionFactory(starts_at=timezone.now() + timedelta(hours=3))
    assert services.cancellation_policy(session) == "flexible"
    booking = services.book(session=session, student=student)
    services.cancel(booking, reason=CancelReason.STUDENT)
    assert booking.status == BookingStatus.CANCELLED


def test_it_does_not_apply_the_policy_to_staff_cancellations(student):
    session = _lesson_with_policy("strict", timedelta(hours=30))
    booking = services.book(session=session, student=student)
    services.cancel(booking, reason=CancelReason.TUTOR)
    assert booking.status == BookingStatus.CANCELLED


def test_it_records_an_expiry_as_booking_expired_once_the_deadline_has_passed(session, student):
    booking = services.book(session=session, student=student)
    with pytest.raises(BookingNotAllowed, match="payment deadline"):
        services.cancel(booking, reason=CancelReason.EXPIRED)
    with time_machine.travel(booking.expires_at + timedelta(seconds=1)):
        services.cancel(booking, reason=CancelReason.EXPIRED)
    assert booking.events.last().action == "booking.expired"
    assert booking.is_expired


def test_it_never_expires_a_confirmed_booking(session, student):
    booking = services.book(session=session, student=student)
    services.confirm(booking)
    with pytest.raises(BookingNotAllowed, match="payment deadline"):
        services.cancel(booking, reason=CancelReason.EXPIRED)
