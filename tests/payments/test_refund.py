"""services.refund: money returned, full or partial, and what it does to the booking and its seat."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from bookings import services
from bookings.errors import BookingNotAllowed
from bookings.models import Booking, BookingStatus, CancelReason, Payment, PaymentStatus, Session
from realtime.models import Notification
from tests.factories import ManagerFactory, SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db


def seats(booking) -> int:
    return Session.objects.get(pk=booking.session_id).seats_taken


@pytest.fixture
def manager(db):
    return ManagerFactory()


@pytest.fixture
def paid(booking):
    payment = services.record_payment(booking, provider="cash", amount=booking.price)
    return Booking.objects.get(pk=booking.pk), payment


def test_a_full_refund_cancels_the_booking_and_releases_its_seat(
    paid, manager, mailoutbox, django_capture_on_commit_callbacks
):
    booking, payment = paid
    RefreshToken.for_user(booking.student)  # the student uses the app: their bell keeps the refund
    with django_capture_on_commit_callbacks(execute=True):
        refunded = services.refund(payment, reason="Student moved abroad", actor=manager)

    assert (refunded.status, refunded.refunded_amount) == (PaymentStatus.REFUNDED, booking.price)
    assert refunded.cancelled_at is not None
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.STAFF)
    assert seats(booking) == 0
    assert services.paid_total(booking) == 0
    refund_event = booking.events.get(action="payment.refunded")
    assert refund_event.data == {
        "payment": payment.pk,
        "provider": "cash",
        "amount": "350000.00",
        "reason": "Student moved abroad",
        "full": True,
    }
    assert refund_event.actor == manager
    assert booking.events.get(action="booking.cancelled").data["refund"] == payment.pk
    notice = Notification.objects.get(recipient=booking.student, type="payment.refunded")
    assert notice.data["data"]["reference"] == booking.reference
    assert len(mailoutbox) == 1
    assert "350,000 UZS" in mailoutbox[0].body and "seat released" in mailoutbox[0].body


def test_a_partial_refund_leaves_the_booking_as_it_is(paid, manager):
    booking, payment = paid
    services.refund(payment, amount="50000", reason="Tutor was late", actor=manager)

    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount, payment.refundable) == ("refunded", 50000, 300000)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert seats(booking) == 1
    assert services.paid_total(booking) == Decimal("300000")
    assert services.amount_owed(booking) == Decimal("50000")

    # The rest of it, later: now nothing of the payment is left and the booking is cancelled.
    services.refund(payment, reason="Student cancelled after all", actor=manager)
    payment.refresh_from_db()
    assert payment.refunded_amount == payment.amount
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CANCELLED
    assert seats(booking) == 0


@pytest.mark.parametrize("amount", ["350000.01", "0", "-5", "lots", "NaN"])
def test_it_refuses_an_amount_it_cannot_refund_and_changes_nothing(paid, manager, amount):
    booking, payment = paid
    with pytest.raises(BookingNotAllowed):
        services.refund(payment, amount=amount, reason="test", actor=manager)
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("paid", 0)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_it_wants_a_reason(paid, manager):
    with pytest.raises(BookingNotAllowed, match="why"):
        services.refund(paid[1], reason="  ", actor=manager)


def test_it_refuses_to_refund_a_payment_twice_over(paid, manager):
    _, payment = paid
    services.refund(payment, reason="once", actor=manager)
    with pytest.raises(BookingNotAllowed, match="Nothing"):
        services.refund(payment, reason="twice", actor=manager)


def test_it_refuses_a_payment_that_took_no_money(booking, manager):
    attempt = services.start_online_payment(
        booking,
        provider="click",
        amount=booking.price,
        provider_txn_id="1",
        holds_until=booking.expires_at,
    )
    with pytest.raises(BookingNotAllowed):
        services.refund(attempt, reason="nothing to give back", actor=manager)


def test_refunding_a_late_payment_clears_the_refund_flag_and_moves_no_seat(manager):
    session = SessionFactory(capacity=1)
    booking = services.book(session=session, student=StudentFactory())
    with time_machine.travel(booking.expires_at + timedelta(minutes=1)):
        services.expire_due()
        services.book(session=session, student=StudentFactory())
        payment = services.record_payment(booking, provider="payme", amount=booking.price)
    assert Booking.objects.get(pk=booking.pk).needs_refund

    services.refund(payment, reason="No seat for the late payment", actor=manager)

    booking.refresh_from_db()
    assert (booking.status, booking.needs_refund) == (BookingStatus.CANCELLED, False)
    assert seats(booking) == 1  # the other student's


def test_a_refund_of_money_paid_before_a_reschedule_cancels_the_booking_it_moved_to(paid, manager):
    booking, payment = paid
    later = SessionFactory(product=booking.session.product, starts_at=booking.session.starts_at + timedelta(days=1))
    moved = services.reschedule(booking, to_session=later)

    services.refund(payment, reason="Changed their mind", actor=manager)

    moved.refresh_from_db()
    assert moved.status == BookingStatus.CANCELLED
    assert Session.objects.get(pk=later.pk).seats_taken == 0
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.REFUNDED


def test_a_refund_after_a_reschedule_is_taken_from_the_booking_the_money_moved_to(
    paid, manager, django_capture_on_commit_callbacks
):
    booking, payment = paid
    RefreshToken.for_user(booking.student)  # the student uses the app: their bell keeps the refund
    later = SessionFactory(product=booking.session.product, starts_at=booking.session.starts_at + timedelta(days=1))
    moved = services.reschedule(booking, to_session=later)
    stale = Payment.objects.get(pk=payment.pk)
    stale.booking = booking  # a caller holding the payment as it was before the reschedule

    with django_capture_on_commit_callbacks(execute=True):
        services.refund(stale, amount="50000", reason="Late start", actor=manager)

    assert stale.booking_id == moved.pk  # the caller's instance follows the money
    assert moved.events.get(action="payment.refunded").data["amount"] == "50000"
    assert not booking.events.filter(action="payment.refunded").exists()
    assert (services.paid_total(moved), services.paid_total(booking)) == (Decimal("300000"), 0)
    assert Booking.objects.get(pk=moved.pk).status == BookingStatus.CONFIRMED  # a partial refund keeps the seat
    notice = Notification.objects.get(recipient=booking.student, type="payment.refunded")
    assert notice.data["data"]["reference"] == moved.reference


def test_the_dashboard_takes_off_only_what_a_partial_refund_returned(paid, manager):
    from bookings.reports import compute_figures

    _, payment = paid
    services.refund(payment, amount="50000", reason="Tutor was late", actor=manager)

    figures = compute_figures()
    assert figures.revenue_month == Decimal("300000")
    assert dict(figures.revenue_per_day)[timezone.localdate()] == Decimal("300000")
