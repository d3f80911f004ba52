"""Property: whatever staff, students, payments and the sweeper do, seats add up.

Hypothesis draws random sequences of book / cancel / expire / reschedule / pay / confirm on a few
small sessions; after every step ``seats_taken`` equals the number of pending and confirmed
bookings and never exceeds capacity.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings import services
from bookings.errors import BookingError
from bookings.models import SEAT_HOLDING, Booking, Session
from tests.factories import ProductFactory, SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db

operation = st.one_of(
    st.tuples(st.just("book"), st.integers(0, 2), st.integers(0, 5)),
    st.tuples(st.just("cancel"), st.integers(0, 30), st.sampled_from(["staff", "student", "tutor"])),
    st.tuples(st.just("expire"), st.integers(0, 48)),
    st.tuples(st.just("reschedule"), st.integers(0, 30), st.integers(0, 2)),
    st.tuples(st.just("pay"), st.integers(0, 30), st.sampled_from([1, 2])),
    st.tuples(st.just("confirm"), st.integers(0, 30)),
)


def assert_invariant() -> None:
    for session in Session.objects.all():
        holding = Booking.objects.filter(session=session, status__in=SEAT_HOLDING).count()
        assert session.seats_taken == holding
        assert 0 <= session.seats_taken <= session.capacity


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_seats_taken_always_equals_active_bookings(operations):
    with transaction.atomic():
        product = ProductFactory(payment_window_hours=24)
        sessions = [
            SessionFactory(product=product, capacity=capacity, starts_at=timezone.now() + timedelta(days=4))
            for capacity in (1, 2, 3)
        ]
        students = [StudentFactory() for _ in range(6)]
        bookings: list[Booking] = []

        for op in operations:
            try:
                match op:
                    case ("book", session_index, student_index):
                        bookings.append(services.book(session=sessions[session_index], student=students[student_index]))
                    case ("cancel", index, reason) if bookings:
                        services.cancel(bookings[index % len(bookings)], reason=reason)
                    case ("expire", hours):
                        services.expire_due(now=timezone.now() + timedelta(hours=hours))
                    case ("reschedule", index, target) if bookings:
                        bookings.append(
                            services.reschedule(bookings[index % len(bookings)], to_session=sessions[target])
                        )
                    case ("pay", index, parts) if bookings:
                        booking = bookings[index % len(bookings)]
                        services.record_payment(booking, provider="cash", amount=booking.price / parts)
                    case ("confirm", index) if bookings:
                        services.confirm(bookings[index % len(bookings)])
            except BookingError:
                pass  # refusals are fine; what matters is that they leave nothing half-done
            assert_invariant()
        transaction.set_rollback(True)
