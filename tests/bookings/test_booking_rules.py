"""Decisions on the model: how a booking starts (``Booking.initial_state``) and what may happen to it
next (``Booking.can_*``), and that every path that makes or moves bookings follows them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from bookings import services
from bookings.errors import BookingError
from bookings.models import Booking, BookingStatus, CancelReason, ConfirmedVia
from bookings.services.imports import BookingRequest, book_many
from tests.factories import (
    LessonFactory,
    ProductFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    booking_in,
    confirmed_booking,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 3, 4, 9, 30, tzinfo=timezone.get_default_timezone())


def frozen(at: datetime) -> time_machine.travel:
    return time_machine.travel(at, tick=False)


def session_of(kind: str, *, starts_in: timedelta = timedelta(days=3)):
    starts_at = NOW + starts_in
    if kind == "free":
        return SessionFactory(product=ProductFactory(price=Decimal("0")), starts_at=starts_at, capacity=5)
    if kind == "auto_confirm":
        return SessionFactory(
            product=LessonFactory(default_capacity=5), tutor=TutorFactory(auto_confirm=True), starts_at=starts_at
        )
    return SessionFactory(starts_at=starts_at, capacity=5)


# --- initial_state ------------------------------------------------------------------------------


def test_a_paid_product_starts_pending_with_the_payment_window_as_its_deadline():
    state = Booking.initial_state(session_of("paid"), now=NOW)
    assert (state.status, state.expires_at, state.confirmed_at, state.confirmed_via) == (
        BookingStatus.PENDING,
        NOW + timedelta(hours=24),
        None,
        None,
    )


def test_the_deadline_is_never_later_than_the_start():
    session = session_of("paid", starts_in=timedelta(hours=5))
    assert Booking.initial_state(session, now=NOW).expires_at == session.starts_at


@pytest.mark.parametrize("kind", ["free", "auto_confirm"])
def test_a_free_product_or_an_auto_confirming_tutor_confirms_at_once(kind):
    state = Booking.initial_state(session_of(kind), now=NOW)
    assert (state.status, state.expires_at, state.confirmed_at, state.confirmed_via) == (
        BookingStatus.CONFIRMED,
        None,
        NOW,
        kind,
    )


def test_a_caller_may_confirm_at_once_but_free_and_auto_confirm_come_first():
    paid, free = session_of("paid"), session_of("free")
    assert Booking.initial_state(paid, now=NOW, confirm_via=ConfirmedVia.IMPORT).confirmed_via == "import"
    assert Booking.initial_state(free, now=NOW, confirm_via=ConfirmedVia.IMPORT).confirmed_via == "free"


def test_a_rescheduled_booking_keeps_its_status_and_deadline_within_the_new_start():
    free, soon = session_of("free"), session_of("paid", starts_in=timedelta(hours=2))
    kept = Booking.initial_state(free, now=NOW, keep_status=BookingStatus.PENDING, keep_expires_at=NOW)
    assert (kept.status, kept.expires_at, kept.confirmed_via) == (BookingStatus.PENDING, NOW, None)
    later = NOW + timedelta(hours=10)
    assert Booking.initial_state(soon, now=NOW, keep_status="pending", keep_expires_at=later).expires_at == (
        soon.starts_at
    )


@pytest.mark.parametrize("kind", ["paid", "free", "auto_confirm"])
def test_book_and_the_bulk_import_start_a_booking_the_same_way(kind):
    """Same state, same deadline, same first history rows, whichever path made the booking."""
    session = session_of(kind)
    with frozen(NOW):
        one = services.book(session=session, student=StudentFactory())
        book_many([BookingRequest(session=session, student=StudentFactory())], now=NOW, source="admin")
    many = Booking.objects.exclude(pk=one.pk).get()
    one.refresh_from_db()

    fields = ("status", "expires_at", "confirmed_at", "price", "currency", "created_at")
    assert [getattr(many, f) for f in fields] == [getattr(one, f) for f in fields]
    assert list(many.events.values_list("action", "data")) == list(one.events.values_list("action", "data"))


# --- predicates ---------------------------------------------------------------------------------

STATES = ["pending", "confirmed", "completed", "no_show", "cancelled"]


@pytest.mark.parametrize("status", STATES)
def test_the_predicates_follow_the_state_machine(status):
    booking = booking_in(status, session=SessionFactory(capacity=3))
    before, after = booking.session.starts_at - timedelta(minutes=1), booking.session.starts_at
    holds = status in ("pending", "confirmed")
    assert booking.can_confirm(before) is (status == "pending")
    assert booking.can_cancel(before) is holds
    assert booking.can_reschedule(before) is holds
    assert booking.can_complete(before) is False  # not started, no result
    assert booking.can_complete(after) is (status == "confirmed")
    assert booking.can_mark_no_show(before) is False
    assert booking.can_mark_no_show(after) is (status == "confirmed")


def test_a_result_lets_a_confirmed_booking_complete_before_the_start_but_not_be_a_no_show():
    booking = confirmed_booking(session=SessionFactory(capacity=3))
    booking.has_result = True
    before = booking.session.starts_at - timedelta(hours=1)
    assert booking.can_complete(before) and not booking.can_mark_no_show(before)


def test_a_pending_booking_can_expire_from_its_deadline_on():
    booking = services.book(session=SessionFactory(capacity=3), student=StudentFactory())
    assert not booking.can_expire(booking.expires_at - timedelta(seconds=1))
    assert booking.can_expire(booking.expires_at)
    services.confirm(booking)
    assert not booking.can_expire(booking.expires_at or timezone.now() + timedelta(days=9))


SERVICES = {
    "can_confirm": lambda b: services.confirm(b),
    "can_cancel": lambda b: services.cancel(b, reason=CancelReason.STAFF),
    "can_complete": lambda b: services.complete(b),
    "can_mark_no_show": lambda b: services.mark_no_show(b),
}


@pytest.mark.parametrize("started", [False, True])
@pytest.mark.parametrize("status", STATES)
@pytest.mark.parametrize("predicate", list(SERVICES))
def test_each_service_does_exactly_what_its_predicate_allows(predicate, status, started):
    session = SessionFactory(capacity=3)
    booking = booking_in(status, session=session)
    when = session.starts_at + (timedelta(minutes=1) if started else -timedelta(hours=1))
    with frozen(when):
        allowed = getattr(Booking.objects.select_related("session").get(pk=booking.pk), predicate)(when)
        try:
            SERVICES[predicate](booking)
        except BookingError:
            done = False
        else:
            done = True
    assert done is allowed
