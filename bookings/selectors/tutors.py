"""Tutors' own view: their bookings and their month in figures (the REST API's tutor/ endpoints)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Avg,
    Count,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Coalesce, Round

from bookings.models import (
    SEAT_HOLDING,
    Booking,
    BookingStatus,
    FeedbackRequest,
    Session,
    SessionStatus,
    Tutor,
)
from bookings.selectors.money import ONE_DECIMAL, with_student_payment_status
from bookings.selectors.students import one_decimal

# --- Tutors' own view (the REST API's tutor/ endpoints) --------------------------------------------


def tutor_bookings(tutor: Tutor) -> QuerySet[Booking]:
    """Every booking in ``tutor``'s sessions, any status, with ``payment_status``; one query."""
    return with_student_payment_status(Booking.objects.filter(session__tutor=tutor))


@dataclass(frozen=True)
class TutorStats:
    sessions: int  # this month's sessions, cancelled ones left out
    bookings: int  # bookings in them that kept or used their seat (pending, confirmed, completed, no-show)
    capacity: int
    completed: int
    no_shows: int
    average_feedback: Decimal | None  # mean score of the tutor's completed feedback, one decimal

    @property
    def fill_rate(self) -> Decimal:
        """Seats booked of the seats offered, in per cent with one decimal (0 with no seats)."""
        return _percent(self.bookings, self.capacity)

    @property
    def no_show_rate(self) -> Decimal:
        """No-shows of the finished bookings (completed or no-show), in per cent with one decimal."""
        return _percent(self.no_shows, self.completed + self.no_shows)


def _percent(part: int, whole: int) -> Decimal:
    if not whole:
        return Decimal("0.0")
    return (Decimal(part) * 100 / whole).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def tutor_stats(tutor: Tutor, *, first: datetime, end: datetime) -> TutorStats:
    """``tutor``'s figures for the sessions starting in [first, end); three queries."""
    sessions = Session.objects.filter(tutor=tutor, starts_at__gte=first, starts_at__lt=end).exclude(
        status=SessionStatus.CANCELLED
    )
    totals = sessions.aggregate(count=Count("pk"), capacity=Coalesce(Sum("capacity"), 0))
    used = (*SEAT_HOLDING, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)
    counts = Booking.objects.filter(session__in=sessions.values("pk"), status__in=used).aggregate(
        booked=Count("pk"),
        completed=Count("pk", filter=Q(status=BookingStatus.COMPLETED)),
        no_shows=Count("pk", filter=Q(status=BookingStatus.NO_SHOW)),
    )
    feedback = FeedbackRequest.objects.filter(tutor=tutor, completed=True, score__isnull=False).aggregate(
        average=Round(Avg("score"), 1)
    )
    return TutorStats(
        sessions=totals["count"],
        bookings=counts["booked"],
        capacity=totals["capacity"],
        completed=counts["completed"],
        no_shows=counts["no_shows"],
        average_feedback=one_decimal(feedback["average"]),
    )
