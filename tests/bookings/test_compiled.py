"""``bookings.selectors.compiled``: a read compiled once gives what its queryset gives, or refuses to compile."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count, F, Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

from backoffice.models import User
from bookings.models import Booking, BookingStatus
from bookings.selectors import student_stats
from bookings.selectors.compiled import CompiledRead, CompileError
from bookings.selectors.students import _stats, _stats_query
from tests.bookings.test_selectors import result_for
from tests.factories import SessionFactory, StudentFactory, booking_in, confirmed_booking

pytestmark = pytest.mark.django_db


def bookings_by_status(student_id: int, after: datetime):
    return (
        Booking.objects.filter(student_id=student_id, session__starts_at__gt=after)
        .order_by("status")
        .values("status")
        .annotate(count=Count("pk"), label=Value("n"))
    )


by_status = CompiledRead(bookings_by_status, int, datetime)


def test_a_compiled_read_gives_the_querysets_rows_for_every_value(django_assert_num_queries):
    now = timezone.now()
    first, second = StudentFactory(), StudentFactory()
    for status in (BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.CONFIRMED):
        booking_in(status, student=first)
    booking_in(BookingStatus.CANCELLED, student=second)
    confirmed_booking(student=second, session=SessionFactory(starts_at=now + timedelta(days=400)))

    for student in (first, second, StudentFactory()):
        for after in (now - timedelta(days=30), now, now + timedelta(days=365), now + timedelta(days=800)):
            with django_assert_num_queries(1):
                rows = by_status(student.pk, after)
            assert rows == list(bookings_by_status(student.pk, after))
    assert by_status(first.pk, now) == [
        {"status": "confirmed", "count": 2, "label": "n"},
        {"status": "pending", "count": 1, "label": "n"},
    ]


def test_a_value_used_twice_goes_to_both_places():
    _, _, slots, names = _stats.compiled()
    assert slots.count(0) == 1  # the student
    assert slots.count(1) == 2  # now: confirmed and pending upcoming bookings
    assert names == ["total_tests", "average_overall", "best_overall", "upcoming", "upcoming_pending"]


def test_student_stats_compiled_equals_the_orms(student):
    for overall in ("6.5", "7.0", "5.5"):
        result_for(student, overall)
    booking_in(BookingStatus.PENDING, student=student)
    booking_in(BookingStatus.CONFIRMED, student=student)
    now = timezone.now()

    for someone in (student, StudentFactory()):
        orm = list(_stats_query(someone.pk, now))
        assert _stats(someone.pk, now) == orm
        for ours, theirs in zip(orm[0].values(), _stats(someone.pk, now)[0].values(), strict=True):
            assert type(ours) is type(theirs)
    assert student_stats(student, now=now).total_tests == 3


def test_student_stats_of_an_unknown_user_raises():
    with pytest.raises(User.DoesNotExist):
        student_stats(User(pk=0))


@pytest.mark.parametrize(
    ("build", "why"),
    [
        # A value changed in Python before it reaches the SQL: the read would run with the wrong one.
        (lambda pk, at: Booking.objects.filter(pk=pk, created_at__gt=at - timedelta(hours=1)).values("pk"), "none of"),
        # A value formatted into the SQL text.
        (lambda pk, at: Booking.objects.filter(pk=pk, created_at__gt=at)[: abs(pk) % 7 + 1].values("pk"), "changes"),
        (
            lambda pk, at: Booking.objects.annotate(n=RawSQL(f"{abs(pk)}", [])).filter(created_at__gt=at).values("n"),
            "changes",
        ),
        # A value that never reaches it.
        (lambda pk, at: Booking.objects.filter(created_at__gt=at).values("pk"), "do not reach"),
        # Not .values(): rows would not be model instances.
        (lambda pk, at: Booking.objects.filter(pk=pk, created_at__gt=at), ".values()"),
        (lambda pk, at: Booking.objects.extra(select={"x": "1"}).filter(pk=pk, created_at__gt=at).values("x"), "extra"),
    ],
)
def test_a_read_whose_values_do_not_map_onto_its_parameters_refuses_to_compile(build, why):
    read = CompiledRead(build, int, datetime)
    with pytest.raises(CompileError, match=why):
        read.compiled()
    if connection.vendor == "postgresql":
        with pytest.raises(CompileError):
            read(1, timezone.now())


def test_a_read_checks_its_values():
    with pytest.raises(TypeError, match="takes values of"):
        CompiledRead(lambda x: Booking.objects.values("pk"), float)
    with pytest.raises(TypeError, match="takes 2 values"):
        by_status(1)


def test_a_constant_that_equals_a_value_stays_a_constant():
    """F() and literal values that happen to equal an argument are not taken for it."""
    read = CompiledRead(
        lambda pk: Booking.objects.filter(pk=pk).annotate(one=Value(1), same=F("pk")).values("one", "same"), int
    )
    booking = confirmed_booking()
    assert read(booking.pk) == [{"one": 1, "same": booking.pk}]
    assert read(1) == list(Booking.objects.filter(pk=1).annotate(one=Value(1), same=F("pk")).values("one", "same"))


def test_paid_total_compiled_equals_the_orms_aggregate(session, student, django_assert_num_queries):
    from decimal import Decimal

    from bookings import services
    from bookings.models import Payment
    from bookings.selectors.money import MONEY_TAKEN, net_paid

    def orm(booking) -> Decimal:
        total = Payment.objects.filter(booking=booking, status__in=MONEY_TAKEN).aggregate(total=net_paid())["total"]
        return total or Decimal(0)

    booking = services.book(session=session, student=student)
    seen = []
    for step in (
        lambda: None,  # nothing paid
        lambda: services.record_payment(booking, provider="cash", amount=Decimal("100000.50")),
        lambda: services.record_payment(booking, provider="click", amount=booking.price - Decimal("100000.50")),
        lambda: services.refund(Payment.objects.get(provider="click"), amount=Decimal("20000"), reason="r", actor=None),
    ):
        step()
        with django_assert_num_queries(1):
            total = services.paid_total(booking)
        assert (total, type(total)) == (orm(booking), Decimal)
        seen.append(total)
    assert seen == [0, Decimal("100000.50"), booking.price, booking.price - 20000]
