from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bookings import services
from bookings.errors import AlreadyBooked, BookingNotAllowed, InvalidTransition, SessionFull
from bookings.models import Booking, BookingStatus, CancelReason, Payment, PaymentStatus, Session
from bookings.selectors import PaymentState, payment_state
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


# --- The money moves with the booking -------------------------------------------------------------


def later_session(booking: Booking, days: int = 1) -> Session:
    return SessionFactory(product=booking.session.product, starts_at=booking.session.starts_at + timedelta(days=days))


def test_it_moves_the_payments_to_the_new_booking_so_they_count_once(session, student, operator):
    booking = services.book(session=session, student=student)
    payment = services.record_payment(booking, provider="cash", amount=booking.price)

    new = services.reschedule(booking, to_session=later_session(booking), actor=operator)

    assert Payment.objects.get(pk=payment.pk).booking == new
    booking.refresh_from_db()
    assert services.paid_total(booking) == 0  # the cancelled booking keeps no money
    assert payment_state(booking, services.paid_total(booking)) == PaymentState.UNPAID
    assert services.paid_total(new) == Decimal("350000")
    assert payment_state(new, services.paid_total(new)) == PaymentState.PAID
    assert services.amount_owed(new) == 0


def test_it_says_in_both_histories_where_the_money_moved(session, student, operator):
    booking = services.book(session=session, student=student)
    cash = services.record_payment(booking, provider="cash", amount="100000")
    card = services.record_payment(booking, provider="click", amount="250000", provider_txn_id="C-1")

    new = services.reschedule(booking, to_session=later_session(booking), actor=operator)

    moved_out = booking.events.get(action="payment.moved")
    moved_in = new.events.get(action="payment.moved")
    assert moved_out.data == {"payments": [cash.pk, card.pk], "amount": "350000.00", "to": new.reference}
    assert moved_in.data == {"payments": [cash.pk, card.pk], "amount": "350000.00", "from": booking.reference}
    assert moved_out.actor == moved_in.actor == operator
    # Read in order: the old booking was cancelled, rescheduled, then its money moved.
    assert list(booking.events.values_list("action", flat=True))[-3:] == [
        "booking.cancelled",
        "booking.rescheduled",
        "payment.moved",
    ]


def test_it_writes_no_money_history_for_a_booking_without_payments(session, student):
    booking = services.book(session=session, student=student)
    new = services.reschedule(booking, to_session=later_session(booking))
    assert not booking.events.filter(action="payment.moved").exists()
    assert not new.events.filter(action="payment.moved").exists()


def test_it_moves_part_payments_refunds_and_pending_attempts_alike(session, student, operator):
    booking = services.book(session=session, student=student, payment_method="payme")
    part = services.record_payment(booking, provider="cash", amount="150000")
    services.refund(part, amount="50000", reason="Overpaid at the desk", actor=operator)
    attempt = services.start_online_payment(
        booking,
        provider="payme",
        amount=Decimal("250000"),
        provider_txn_id="P-1",
        holds_until=timezone.now() + timedelta(hours=12),
    )

    new = services.reschedule(booking, to_session=later_session(booking))

    assert set(Payment.objects.filter(booking=new).values_list("pk", flat=True)) == {part.pk, attempt.pk}
    assert not Payment.objects.filter(booking=booking).exists()
    assert new.status == BookingStatus.PENDING
    assert services.paid_total(new) == Decimal("100000")  # net of the refund
    assert services.amount_owed(new) == Decimal("250000")  # what the moved attempt carries
    assert new.events.get(action="payment.moved").data["amount"] == "100000.00"


def test_rescheduling_twice_keeps_the_money_on_the_live_booking_only(session, student):
    booking = services.book(session=session, student=student)
    payment = services.record_payment(booking, provider="cash", amount=booking.price)

    middle = services.reschedule(booking, to_session=later_session(booking, 1))
    last = services.reschedule(middle, to_session=later_session(booking, 2))

    assert Payment.objects.get(pk=payment.pk).booking == last
    assert [services.paid_total(b) for b in (booking, middle, last)] == [0, 0, Decimal("350000")]
    assert middle.events.get(action="payment.moved", data__from=booking.reference).data["payments"] == [payment.pk]
    assert middle.events.get(action="payment.moved", data__to=last.reference).data["payments"] == [payment.pk]
    assert last.events.get(action="payment.moved").data["from"] == middle.reference


def test_paid_total_is_one_query_however_often_the_booking_moved(session, student, django_assert_num_queries):
    booking = services.book(session=session, student=student)
    services.record_payment(booking, provider="cash", amount=booking.price)
    for days in range(1, 6):
        booking = services.reschedule(booking, to_session=later_session(booking, days))

    with django_assert_num_queries(1):
        assert services.paid_total(booking) == Decimal("350000")


def test_a_refused_reschedule_leaves_the_money_where_it_was(session, student):
    booking = services.book(session=session, student=student)
    payment = services.record_payment(booking, provider="cash", amount=booking.price)
    target = SessionFactory(product=session.product, capacity=1)
    services.book(session=target, student=StudentFactory())

    with pytest.raises(SessionFull):
        services.reschedule(booking, to_session=target)

    assert Payment.objects.get(pk=payment.pk).booking_id == booking.pk
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.PAID
    assert not booking.events.filter(action="payment.moved").exists()


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
