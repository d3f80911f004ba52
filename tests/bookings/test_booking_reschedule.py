from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bookings import services
from bookings.errors import AlreadyBooked, BookingNotAllowed, InvalidTransition, SessionFull
from bookings.models import Booking, BookingStatus, CancelReason, Session
from tests.factories import LessonFactory, SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db


def seats(session) -> int:
    return Session.objects.get(pk=session.pk).seats_taken


def test_it_moves_the_seat_and_links_the_new_booking(session, student, operator):
    booking = services.book(session=session, student=student)
    target = SessionFactory(product=session.product, capacity=2)

    new = services.reschedule(booking, to_session=target, actor=operator)

    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.RESCHEDULED)
    assert new.rescheduled_from == booking
    assert new.session == target
    assert new.status == BookingStatus.PENDING
    assert new.expires_at == booking.expires_at  # no extra time to pay
    assert new.price == booking.price
    assert (seats(session), seats(target)) == (0, 1)
    assert target.seats_taken == 1
    assert booking.events.filter(action="booking.rescheduled", actor=operator).get().data["to"] == new.reference
    assert new.events.get(action="booking.created").data["rescheduled_from"] == booking.reference


def test_it_keeps_a_confirmed_booking_confirmed(session, student):
    booking = services.book(session=session, student=student)
    services.record_payment(booking, provider="cash", amount=booking.price)
    new = services.reschedule(booking, to_session=SessionFactory(product=session.product))
    assert new.status == BookingStatus.CONFIRMED
    assert new.expires_at is None
    assert services.paid_total(new) == booking.price


def test_it_fails_whole_when_the_target_is_full(session, student):
    booking = services.book(session=session, student=student)
    target = SessionFactory(product=session.product, capacity=1)
    services.book(session=target, student=StudentFactory())

    with pytest.raises(SessionFull):
        services.reschedule(booking, to_session=target)

    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
    assert (seats(session), seats(target)) == (1, 1)
    assert not booking.events.filter(action__in=["booking.cancelled", "booking.rescheduled"]).exists()
    assert Booking.objects.filter(rescheduled_from=booking).count() == 0


def test_it_refuses_a_booking_that_holds_no_seat(session, student):
    booking = services.book(session=session, student=student)
    services.cancel(booking, reason=CancelReason.STAFF)
    with pytest.raises(InvalidTransition):
        services.reschedule(booking, to_session=SessionFactory(product=session.product))


def test_it_refuses_the_same_session(session, student):
    booking = services.book(session=session, student=student)
    with pytest.raises(BookingNotAllowed, match="already in that session"):
        services.reschedule(booking, to_session=session)
    assert seats(session) == 1


def test_it_refuses_a_session_where_the_student_is_already_booked(session, student):
    booking = services.book(session=session, student=student)
    target = SessionFactory(product=session.product)
    services.book(session=target, student=student)
    with pytest.raises(AlreadyBooked):
        services.reschedule(booking, to_session=target)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
    assert (seats(session), seats(target)) == (1, 1)


def test_it_keeps_the_deadline_but_never_past_the_new_start(session, student):
    booking = services.book(session=session, student=student)  # session in 3 days: 24 h to pay
    soon = SessionFactory(product=session.product, starts_at=timezone.now().replace(microsecond=0) + timedelta(hours=5))
    new = services.reschedule(booking, to_session=soon)
    assert new.expires_at == soon.starts_at


def test_it_refuses_a_session_of_another_product(session, student):
    booking = services.book(session=session, student=student)
    with pytest.raises(BookingNotAllowed, match="can only move to another"):
        services.reschedule(booking, to_session=SessionFactory(product=LessonFactory()))
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
