"""Seats: how a session's seats are written, on every page, in the feed and in ``slot.updated``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from bookings.models import (
    Booking,
    BookingStatus,
    Session,
    SessionStatus,
)

# --- Seats: how a session's seats are written, on every page, in the feed and in slot.updated ----
#
# One notation everywhere. Before the start: seats left of capacity ("12 of 30 left"), or a word
# ("full", "closed", "cancelled"). From the start nobody can book, so the figure turns to
# attendance: completed of the bookings that held a seat ("8 of 12 attended"), or "no bookings".
# A completed or missed booking no longer holds its seat, so ``seats_taken`` alone would show an
# attended session as empty: ``with_seat_counts`` counts them for a list in the same query.


@dataclass(frozen=True)
class Seats:
    text: str
    kind: str  # "seats" (before the start, what slot.updated describes) or "attendance"


SEATS_BEFORE_START = "seats"
SEATS_ATTENDANCE = "attendance"


def seats_before_start(*, status: str, capacity: int, seats_taken: int) -> Seats:
    """The seats of a session that has not started (or is cancelled)."""
    if status == SessionStatus.CANCELLED:
        return Seats("cancelled", SEATS_BEFORE_START)
    if status == SessionStatus.CLOSED:
        return Seats("closed", SEATS_BEFORE_START)
    left = max(capacity - seats_taken, 0)
    return Seats(f"{left} of {capacity} left" if left else "full", SEATS_BEFORE_START)


def seats_text(*, status: str, capacity: int, seats_taken: int) -> str:
    """``seats_before_start`` in words: what ``slot.updated`` carries as ``seats_text``."""
    return seats_before_start(status=status, capacity=capacity, seats_taken=seats_taken).text


def attendance_text(*, attended: int, booked: int) -> str:
    """A started session: completed bookings of those that held a seat (pending, confirmed,
    completed, no-show)."""
    return f"{attended} of {booked} attended" if booked else "no bookings"


def _count_bookings(status: str) -> Coalesce:
    per_session = (
        Booking.objects.filter(session=OuterRef("pk"), status=status)
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(per_session), Value(0), output_field=IntegerField())


def with_seat_counts(sessions: QuerySet[Session]) -> QuerySet[Session]:
    """``sessions`` annotated with ``seats_attended`` (completed bookings) and ``seats_missed``
    (no-shows): correlated subqueries on the (session, status) index, evaluated only for the rows
    fetched, so a page of sessions is still one query and a count ignores them."""
    return sessions.annotate(
        seats_attended=_count_bookings(BookingStatus.COMPLETED),
        seats_missed=_count_bookings(BookingStatus.NO_SHOW),
    )


def session_seats(session: Session, *, now: datetime | None = None) -> Seats:
    """The figure for one session. Lists pass sessions from ``with_seat_counts``; an object
    without the counts (a single session's page) costs one query once it has started."""
    now = now or timezone.now()
    if session.status == SessionStatus.CANCELLED or session.starts_at > now:
        return seats_before_start(status=session.status, capacity=session.capacity, seats_taken=session.seats_taken)
    attended = getattr(session, "seats_attended", None)
    missed = getattr(session, "seats_missed", None)
    if attended is None or missed is None:
        counts = Booking.objects.filter(session=session).aggregate(
            attended=Count("pk", filter=Q(status=BookingStatus.COMPLETED)),
            missed=Count("pk", filter=Q(status=BookingStatus.NO_SHOW)),
        )
        attended, missed = counts["attended"], counts["missed"]
    return Seats(attendance_text(attended=attended, booked=session.seats_taken + attended + missed), SEATS_ATTENDANCE)
