"""Read-only queries: what a booking has paid and owes; statistics for students, for their pages.

Nothing here writes. Every function runs a fixed number of queries, whatever the number of rows:
the per-student figures are correlated subqueries, so they compose with other annotations (a
join to bookings for one figure would otherwise multiply the rows another figure counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    Avg,
    Count,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from backoffice.models import User
from bookings.models import Booking, BookingStatus, FeedbackRequest, Payment, PaymentStatus, TestResult

ONE_DECIMAL = Decimal("0.1")
# Payments whose money was taken: a refunded one counts for what was not returned.
MONEY_TAKEN = (PaymentStatus.PAID, PaymentStatus.REFUNDED)
# Reschedules followed back from a booking to find the money paid before it was moved.
RESCHEDULE_CHAIN_LIMIT = 50


def net_paid() -> Sum:
    """The aggregate of money kept over a queryset of payments filtered to ``MONEY_TAKEN``."""
    return Sum(F("amount") - F("refunded_amount"))


def paid_total(booking: Booking) -> Decimal:
    """Money paid for this booking and the bookings it was rescheduled from, less what was refunded.

    The one definition of "paid": the services decide on it (``record_payment`` takes no more than
    is owed, ``refund`` no more than was paid), the admin and the payment providers show it.
    """
    ids = [booking.pk]
    previous = booking.rescheduled_from_id
    while previous is not None and len(ids) < RESCHEDULE_CHAIN_LIMIT:
        ids.append(previous)
        previous = Booking.objects.filter(pk=previous).values_list("rescheduled_from_id", flat=True).first()
    total = Payment.objects.filter(booking_id__in=ids, status__in=MONEY_TAKEN).aggregate(total=net_paid())["total"]
    return total or Decimal(0)


def amount_owed(booking: Booking) -> Decimal:
    """What the booking still owes: its price less the money already paid for it (never below 0).

    This is the amount a payment callback must carry (Click in soums, Payme in tiyin).
    """
    return max(booking.price - paid_total(booking), Decimal(0))


def stuck_payments(*, now: datetime | None = None) -> Q:
    """Online attempts still pending past the provider's own limit (``holds_until``): a Payme
    transaction in state 1 more than 12 hours after Payme's ``time``, a Click payment prepared more
    than an hour ago and never completed. The provider will not finish them by itself; the booking
    no longer keeps its seat for them (``bookings.services.expiry``). ``Payment.is_stuck`` for one row.
    """
    return Q(status=PaymentStatus.PENDING, holds_until__lt=now or timezone.now())


def refunds_due() -> Q:
    """Payments whose money must go back and has not: a refund asked of the provider (Payme's
    cabinet, a Click reversal under way) and not done, or money kept on a booking flagged
    ``needs_refund`` (a late payment that found no seat)."""
    flagged = Booking.objects.filter(needs_refund=True).values("pk")
    return Q(refund_requested_at__isnull=False, status=PaymentStatus.PAID) | Q(
        booking__in=flagged, status__in=MONEY_TAKEN, refunded_amount__lt=F("amount")
    )


@dataclass(frozen=True)
class StudentStats:
    total_tests: int  # results recorded on the student's bookings
    average_overall: Decimal | None  # mean overall band, one decimal; None without a scored result
    best_overall: Decimal | None
    upcoming: int  # confirmed (paid) bookings whose session starts in the future
    upcoming_pending: int  # pending (unpaid) ones, still to be paid


@dataclass(frozen=True)
class FeedbackStats:
    total: int  # writing and speaking submissions sent for feedback
    completed: int
    average_score: Decimal | None  # mean score of the completed ones, one decimal; None when none

    @property
    def open(self) -> int:
        return self.total - self.completed


def one_decimal(value: Any) -> Decimal | None:
    """A database average as a Decimal with one decimal place (half up), or None."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def _per_student(queryset: QuerySet, student_field: str, aggregate: Func) -> Subquery:
    """One aggregate over ``queryset`` for the student of the outer row."""
    return Subquery(
        queryset.filter(**{student_field: OuterRef("pk")})
        .order_by()
        .values(student_field)
        .annotate(value=aggregate)
        .values("value")
    )


def _result_annotations() -> dict[str, Any]:
    results = TestResult.objects.all()
    student = "booking__student"
    return {
        "total_tests": Coalesce(
            _per_student(results, student, Count("pk")),
            Value(0),
            output_field=IntegerField(),
        ),
        # Rounded in the database so list pages and student_stats() show the same figure
        # (ROUND is half away from zero on PostgreSQL and SQLite; bands are never negative).
        "average_overall": _per_student(results, student, Round(Avg("overall"), 1)),
        "best_overall": _per_student(results, student, Max("overall")),
    }


def _upcoming_annotations(now: datetime) -> dict[str, Any]:
    future = Booking.objects.filter(session__starts_at__gt=now)

    def count(status: str) -> Coalesce:
        return Coalesce(
            _per_student(future.filter(status=status), "student", Count("pk")),
            Value(0),
            output_field=IntegerField(),
        )

    return {
        "upcoming": count(BookingStatus.CONFIRMED),
        "upcoming_pending": count(BookingStatus.PENDING),
    }


def _booking_annotations() -> dict[str, Any]:
    bookings = Booking.objects.all()
    return {
        "booking_count": Coalesce(
            _per_student(bookings, "student", Count("pk")),
            Value(0),
            output_field=IntegerField(),
        ),
        "last_booked_at": _per_student(bookings, "student", Max("created_at")),
    }


def students_with_stats() -> QuerySet[User]:
    """Students annotated with ``total_tests``, ``average_overall`` and ``best_overall``; one query."""
    return User.objects.students().annotate(**_result_annotations())


def with_student_list_stats(students: QuerySet[User], *, now: datetime | None = None) -> QuerySet[User]:
    """``students`` annotated for a list page: the result figures of ``students_with_stats()``,
    ``upcoming`` and ``upcoming_pending`` as in ``student_stats()``, ``booking_count`` (every
    booking, cancelled ones too) and ``last_booked_at``. Still one query, whatever the rows.
    """
    now = now or timezone.now()
    return students.annotate(**_result_annotations(), **_upcoming_annotations(now), **_booking_annotations())


def student_stats(student: User, *, now: datetime | None = None) -> StudentStats:
    """Results and upcoming bookings of one student, in one query."""
    now = now or timezone.now()
    row = (
        User.objects.filter(pk=student.pk)
        .annotate(**_result_annotations(), **_upcoming_annotations(now))
        .values("total_tests", "average_overall", "best_overall", "upcoming", "upcoming_pending")
        .get()
    )
    return StudentStats(
        total_tests=row["total_tests"],
        average_overall=one_decimal(row["average_overall"]),
        best_overall=one_decimal(row["best_overall"]),
        upcoming=row["upcoming"],
        upcoming_pending=row["upcoming_pending"],
    )


def feedback_stats(student: User) -> FeedbackStats:
    """The student's feedback requests: how many, how many completed, their mean score; one query."""
    row = FeedbackRequest.objects.filter(student=student).aggregate(
        submissions=Count("pk"),
        done=Count("pk", filter=Q(completed=True)),
        average=Round(Avg("score", filter=Q(completed=True)), 1),
    )
    return FeedbackStats(
        total=row["submissions"],
        completed=row["done"],
        average_score=one_decimal(row["average"]),
    )
