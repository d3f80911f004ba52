"""bookings.selectors for a student's own view: the payment status (one rule, in SQL for lists and
in Python for one booking) and the sessions a student can book."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bookings import services
from bookings.errors import BookingError
from bookings.models import Booking, BookingStatus, SessionStatus
from bookings.selectors import (
    StudentPaymentStatus,
    bookable_sessions,
    student_bookings,
    student_payment_status,
    with_student_payment_status,
)
from tests.factories import ManagerFactory, ProductFactory, SessionFactory, TutorFactory, booking_in

pytestmark = pytest.mark.django_db


def test_the_list_annotation_and_the_single_booking_rule_agree_in_every_state(student):
    expected: dict[int, str] = {}

    def add(booking: Booking, status: str) -> None:
        expected[booking.pk] = status

    add(services.book(session=SessionFactory(), student=student), "pending")
    part = services.book(session=SessionFactory(), student=student)
    services.record_payment(part, provider="cash", amount=Decimal("1000"))
    add(part, "pending")
    paid = services.book(session=SessionFactory(), student=student)
    services.record_payment(paid, provider="cash", amount=paid.price)
    add(paid, "paid")
    add(booking_in(BookingStatus.CONFIRMED, student=student), "pending")  # confirmed by staff, unpaid
    add(services.book(session=SessionFactory(product=ProductFactory(price=0)), student=student), "paid")
    add(booking_in(BookingStatus.CANCELLED, student=student), "cancelled")
    moved = services.book(session=SessionFactory(), student=student)
    services.record_payment(moved, provider="cash", amount=moved.price)
    target = SessionFactory(product=moved.session.product)
    new = services.reschedule(moved, to_session=target)
    add(Booking.objects.get(pk=moved.pk), "cancelled")
    add(new, "paid")
    refunded = services.book(session=SessionFactory(), student=student)
    payment = services.record_payment(refunded, provider="cash", amount=refunded.price)
    services.refund(payment, reason="changed plans", actor=ManagerFactory())
    add(Booking.objects.get(pk=refunded.pk), "cancelled")

    listed = with_student_payment_status(Booking.objects.filter(student=student))
    # The SQL definition, as the lists filter on it; the Python one, as the rows show it.
    annotated = {
        pk: state.value
        for state in StudentPaymentStatus
        for pk in listed.filter(payment_status=state.value).values_list("pk", flat=True)
    }
    assert {b.pk: student_payment_status(b, paid=b.paid_amount).value for b in listed} == expected
    one_by_one = {b.pk: student_payment_status(b).value for b in Booking.objects.filter(student=student)}

    assert annotated == one_by_one == expected


def test_student_bookings_leaves_out_a_pending_booking_past_its_deadline(student):
    kept = services.book(session=SessionFactory(), student=student)
    lapsed = services.book(session=SessionFactory(), student=student)
    Booking.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert list(student_bookings(student).values_list("pk", flat=True)) == [kept.pk]


def test_every_bookable_session_is_accepted_by_book_and_no_other(student):
    now = timezone.now()
    for notice in (0, 2, 24):
        tutor = TutorFactory(min_notice_hours=notice)
        for hours in (1, 3, 25):
            SessionFactory(tutor=tutor, starts_at=now + timedelta(hours=hours))
    SessionFactory(starts_at=now + timedelta(hours=1))
    SessionFactory(status=SessionStatus.CLOSED)
    held = SessionFactory(capacity=3)
    services.book(session=held, student=student)

    listed = set(bookable_sessions(student).values_list("pk", flat=True))

    for session in type(held).objects.exclude(pk=held.pk):
        try:
            services.book(session=session, student=student)
            accepted = True
        except BookingError:
            accepted = False
        assert accepted == (session.pk in listed), session
    assert held.pk not in listed
