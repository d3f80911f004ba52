"""Factories for tests: objects that satisfy every rule, overridable per test."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from backoffice.models import Role, User
from bookings.models import (
    Booking,
    BookingStatus,
    CancelReason,
    FeedbackKind,
    FeedbackRequest,
    Product,
    ProductKind,
    Scoring,
    Session,
    TestResult,
    Tutor,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    phone = factory.Sequence(lambda n: f"+99890{1000000 + n:07d}")
    role = Role.STUDENT
    password = factory.django.Password("pass-12345")


class StudentFactory(UserFactory):
    role = Role.STUDENT


class OperatorFactory(UserFactory):
    role = Role.OPERATOR


class ManagerFactory(UserFactory):
    role = Role.MANAGER


class TutorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tutor

    user = factory.SubFactory(UserFactory, role=Role.TUTOR)
    timezone = "Asia/Tashkent"
    min_notice_hours = 2
    auto_confirm = False


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    code = factory.Sequence(lambda n: f"PRODUCT-{n}")
    name = factory.Sequence(lambda n: f"IELTS mock {n}")
    kind = ProductKind.EXAM
    duration_minutes = 180
    price = Decimal("350000")
    default_capacity = 30
    payment_window_hours = 24
    scoring = Scoring.IELTS_BAND


class LessonFactory(ProductFactory):
    kind = ProductKind.LESSON
    duration_minutes = 60
    default_capacity = 1
    scoring = Scoring.NONE
    price = Decimal("150000")


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    product = factory.SubFactory(ProductFactory)
    tutor = None
    room = "Room 1"
    starts_at = factory.LazyFunction(lambda: timezone.now().replace(microsecond=0) + timedelta(days=3))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=o.product.duration_minutes))
    capacity = factory.LazyAttribute(lambda o: o.product.default_capacity)


def confirmed_booking(*, session: Session | None = None, student: User | None = None) -> Booking:
    """A confirmed booking made through the services (bookings are never created directly)."""
    from bookings import services

    booking = services.book(session=session or SessionFactory(), student=student or StudentFactory())
    if booking.status == BookingStatus.PENDING:
        booking = services.confirm(booking)
    return booking


def booking_in(status: str, *, session: Session | None = None, student: User | None = None) -> Booking:
    """A booking brought to ``status`` through the services, as it happens for real.

    Completed and no-show need a started session, and book() refuses those: the clock is moved
    just past the start for that one step.
    """
    import time_machine

    from bookings import services

    session = session or SessionFactory()
    booking = services.book(session=session, student=student or StudentFactory())
    if status == BookingStatus.CANCELLED:
        return services.cancel(booking, reason=CancelReason.STAFF)
    if status != BookingStatus.PENDING and booking.status == BookingStatus.PENDING:
        booking = services.confirm(booking)
    if status in (BookingStatus.COMPLETED, BookingStatus.NO_SHOW):
        finish = services.complete if status == BookingStatus.COMPLETED else services.mark_no_show
        with time_machine.travel(session.starts_at + timedelta(minutes=1), tick=False):
            booking = finish(booking)
    assert booking.status == status, f"could not bring a booking to {status}"
    return booking


class ResultFactory(factory.django.DjangoModelFactory):
    """A TestResult (not named TestResultFactory so pytest does not try to collect it)."""

    class Meta:
        model = TestResult

    booking = factory.LazyFunction(confirmed_booking)
    listening = Decimal("6.5")
    reading = Decimal("6.5")
    writing = Decimal("6.0")
    speaking = Decimal("6.0")


class FeedbackRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FeedbackRequest

    student = factory.SubFactory(StudentFactory)
    tutor = None
    kind = FeedbackKind.WRITING
    task = "Some people think that ... Discuss both views and give your opinion."
    submission = factory.Faker("paragraph")
    score = None
    completed = False
