"""Read-only queries: what a booking has paid and owes; statistics for students, for their pages.

Nothing here writes. Every function runs a fixed number of queries, whatever the number of rows:
the per-student figures are correlated subqueries, so they compose with other annotations (a
join to bookings for one figure would otherwise multiply the rows another figure counts).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    Avg,
    Case,
    CharField,
    Count,
    DecimalField,
    Exists,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextChoices,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractHour, ExtractIsoWeekDay, ExtractMinute, Round
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from backoffice.models import Role, User
from bookings.models import (
    SEAT_HOLDING,
    Booking,
    BookingStatus,
    FeedbackRequest,
    Payment,
    PaymentStatus,
    Scoring,
    Session,
    SessionStatus,
    TestResult,
    Tutor,
)

ONE_DECIMAL = Decimal("0.1")
# Payments whose money was taken: a refunded one counts for what was not returned.
MONEY_TAKEN = (PaymentStatus.PAID, PaymentStatus.REFUNDED)
MONEY = DecimalField(max_digits=12, decimal_places=2)


# --- Money: what a booking has paid, owes, and its payment state -------------------------------------
#
# One definition of "paid", used by the services (``record_payment`` takes no more than is owed,
# ``refund`` no more than was paid), the payment callbacks, the admin list and page, the exports,
# the dashboard and the API. A payment belongs to one booking at a time: a reschedule moves the
# payments to the new booking (``bookings.services.payments.move_payments``), so a booking's paid
# amount is over its own payments only, and one payment is never counted for two bookings.


def net_paid() -> Sum:
    """The aggregate of money kept over a queryset of payments filtered to ``MONEY_TAKEN``."""
    return Sum(F("amount") - F("refunded_amount"))


def paid_amount_expression() -> Coalesce:
    """``paid_total`` of the outer row (a booking) as a correlated subquery: 0 when nothing was paid."""
    paid = (
        Payment.objects.filter(booking=OuterRef("pk"), status__in=MONEY_TAKEN)
        .order_by()
        .values("booking")
        .annotate(total=net_paid())
        .values("total")
    )
    return Coalesce(Subquery(paid), Value(Decimal(0)), output_field=MONEY)


def with_paid_amount(bookings: QuerySet[Booking]) -> QuerySet[Booking]:
    """``bookings`` annotated with ``paid_amount`` (``paid_total`` of each): still one query, the
    subquery answered per row fetched by the (booking, status) index of payments."""
    return bookings.annotate(paid_amount=paid_amount_expression())


def paid_total(booking: Booking) -> Decimal:
    """Money paid for this booking less what was refunded, over its own payments; one query."""
    total = Payment.objects.filter(booking=booking, status__in=MONEY_TAKEN).aggregate(total=net_paid())["total"]
    return total or Decimal(0)


def amount_owed(booking: Booking, *, paid: Decimal | None = None) -> Decimal:
    """What the booking still owes: its price less the money already paid for it (never below 0).

    This is the amount a payment callback must carry (Click in soums, Payme in tiyin). ``paid``:
    the booking's ``paid_total`` when the caller has it already (``with_paid_amount``).
    """
    return max(booking.price - (paid_total(booking) if paid is None else paid), Decimal(0))


class PaymentState(TextChoices):
    """What a booking's money amounts to, as the admin list, the exports and the API show it."""

    PAID = "paid", "paid"
    PART = "part", "part-paid"
    REFUND = "refund", "refund due"
    FREE = "free", "free"
    UNPAID = "unpaid", "unpaid"


def payment_state(booking: Booking, paid: Decimal) -> PaymentState:
    """The state of ``booking`` having been paid ``paid`` (its ``paid_total`` or ``paid_amount``).

    Money kept on a booking that lost its seat (``needs_refund``) is "refund due" whatever the sum.
    """
    if booking.needs_refund:
        return PaymentState.REFUND
    if booking.price <= 0:
        return PaymentState.FREE
    if paid >= booking.price:
        return PaymentState.PAID
    if paid > 0:
        return PaymentState.PART
    return PaymentState.UNPAID


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


# --- Students' own view (the REST API, api/): what a student may book, their bookings ----------


class StudentPaymentStatus(TextChoices):
    """A booking's payment status as a student sees it (the API's ``payment_status``): ``paid``
    once what it owes is paid (a free one at once), ``cancelled`` when cancelled, else ``pending``."""

    PENDING = "pending", "pending"
    PAID = "paid", "paid"
    CANCELLED = "cancelled", "cancelled"


def student_payment_status(booking: Booking, *, paid: Decimal | None = None) -> StudentPaymentStatus:
    """``StudentPaymentStatus`` of one booking; ``paid``: its ``paid_total`` when known already."""
    if booking.status == BookingStatus.CANCELLED:
        return StudentPaymentStatus.CANCELLED
    owed = amount_owed(booking, paid=paid)
    return StudentPaymentStatus.PAID if owed <= 0 else StudentPaymentStatus.PENDING


def with_student_payment_status(bookings: QuerySet[Booking]) -> QuerySet[Booking]:
    """``bookings`` with ``paid_amount`` and ``payment_status`` (as ``student_payment_status``, in
    SQL, so lists filter and page on it): still one query."""
    return with_paid_amount(bookings).annotate(
        payment_status=Case(
            When(status=BookingStatus.CANCELLED, then=Value(StudentPaymentStatus.CANCELLED.value)),
            When(price__lte=F("paid_amount"), then=Value(StudentPaymentStatus.PAID.value)),
            default=Value(StudentPaymentStatus.PENDING.value),
            output_field=CharField(),
        )
    )


def student_bookings(student: User, *, now: datetime | None = None) -> QuerySet[Booking]:
    """The bookings ``student`` sees in their list, with ``payment_status``: all of theirs but a
    pending one past its ``expires_at`` (the expiry sweep cancels it; reading never does)."""
    now = now or timezone.now()
    return with_student_payment_status(
        Booking.objects.filter(student=student).exclude(status=BookingStatus.PENDING, expires_at__lte=now)
    )


def future_bookings(*, now: datetime | None = None) -> Q:
    """Of ``student_bookings``: the session has not started and the booking holds its seat (neither
    cancelled nor expired)."""
    return Q(session__starts_at__gt=now or timezone.now(), status__in=SEAT_HOLDING)


def past_bookings(*, now: datetime | None = None) -> Q:
    """Of ``student_bookings``: the session is over and the booking was paid."""
    return Q(session__ends_at__lte=now or timezone.now(), payment_status=StudentPaymentStatus.PAID.value)


def sessions_open_to_booking(*, now: datetime | None = None) -> QuerySet[Session]:
    """Sessions ``services.book`` accepts now, whoever books: open, not started, at least the tutor's
    minimum notice ahead. Full sessions are included (a calendar shows them full)."""
    now = now or timezone.now()
    # "starts_at >= now + min_notice_hours hours" per tutor: SQLite cannot multiply a duration in
    # SQL, so one condition per notice in use (a handful of values; one small query).
    notices = Tutor.objects.order_by().values_list("min_notice_hours", flat=True).distinct()
    outside_notice = Q(tutor__isnull=True)
    for hours in notices:
        outside_notice |= Q(tutor__min_notice_hours=hours, starts_at__gte=now + timedelta(hours=hours))
    return Session.objects.filter(outside_notice, status=SessionStatus.OPEN, starts_at__gt=now)


def bookable_sessions(student: User | int, *, now: datetime | None = None) -> QuerySet[Session]:
    """Sessions ``student`` (a user or their id) may book now: ``sessions_open_to_booking`` where
    they hold no seat yet. Full sessions are included, with no seats left, for a calendar to show
    them full (the API's ``available=true`` drops them).
    """
    held = Booking.objects.filter(session=OuterRef("pk"), student=student, status__in=SEAT_HOLDING)
    return sessions_open_to_booking(now=now).exclude(Exists(held))


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


# --- What a person may see ----------------------------------------------------------------------


def sees_own_only(user: User | Any) -> bool:
    """Tutors see their own sessions, bookings and results; the people who run the centre see all.
    The back office's lists (``TutorScopedMixin``) and the live socket's ``watch`` both ask this."""
    return getattr(user, "role", None) == Role.TUTOR and not user.is_superuser


def sessions_visible_to(user: User) -> QuerySet[Session]:
    """The sessions ``user`` may look at in the back office or watch live."""
    sessions = Session.objects.all()
    return sessions.filter(tutor__user=user) if sees_own_only(user) else sessions


# --- Whose clock: the zone a person reads times in ------------------------------------------------


def viewer_timezone(user: User | Any) -> tzinfo:
    """The zone ``user`` reads times in: a tutor their own (``Tutor.timezone``), everyone else the centre's.

    The calendar, the session and booking pages and their history ask this, so a tutor in London
    reads London times wherever the back office shows them a time, labelled (``zone_label``).
    """
    if getattr(user, "role", None) == Role.TUTOR:
        # The reverse one-to-one is cached on the user object: one query per request at most.
        tutor = _tutor_of(user)
        if tutor is not None:
            return tutor.tzinfo
    return timezone.get_default_timezone()


def _tutor_of(user: User) -> Tutor | None:
    try:
        return user.tutor
    except Tutor.DoesNotExist:
        return None


def zone_label(tz: tzinfo) -> str:
    """The zone's name when it is not the centre's ("Europe/London"), else "": centre time goes unlabelled."""
    name = str(tz)
    return "" if name == timezone.get_default_timezone_name() else name


# --- Results -----------------------------------------------------------------------------------------


def bookings_awaiting_result(user: User | Any = None, *, now: datetime | None = None) -> QuerySet[Booking]:
    """Bookings a result can be entered for: confirmed or completed, the session started, no result
    yet, an IELTS-scored product; a tutor's only their own. Newest sitting first, student and
    session loaded (``record_result`` checks the same state, and explains a refusal)."""
    bookings = Booking.objects.filter(
        status__in=(BookingStatus.CONFIRMED, BookingStatus.COMPLETED),
        session__starts_at__lte=now or timezone.now(),
        session__product__scoring=Scoring.IELTS_BAND,
        has_result=False,
    )
    if user is not None and sees_own_only(user):
        bookings = bookings.filter(session__tutor__user=user)
    return bookings.select_related("student", "session__product").order_by("-session__starts_at", "reference")


# --- The booking desk: a session by the date as typed, a student by name or phone, a moved booking --
#
# The add-booking form's pickers and the bookings list's search ask these (bookings.admin.bookings).

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TIME_TERM = re.compile(r"\b(\d{1,2}):(\d{2})\b")
ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
NUMERIC_DATE = re.compile(r"\b(\d{1,2})[./](\d{1,2})(?:[./](\d{4}|\d{2}))?\b")  # day first: 9/12 is 9 December
DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]{3,9})\.?(?:\s+(\d{4}))?\b")
MONTH_DAY = re.compile(r"\b([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?\b")
PHONE_TERM = re.compile(r"[\d\s()+\-.]+")
REFERENCE_TERM = re.compile(r"[A-Z0-9]{4,12}")
MAX_MOVES = 10  # reschedules followed from an old reference; a chain is a few moves at most


@dataclass
class SessionTerm:
    """What a search for a session says: a day (``impossible`` when it names none, "31/02"), a
    weekday (1 Monday .. 7 Sunday), a local time, and the words left."""

    day: date | None = None
    impossible: bool = False
    weekday: int | None = None
    time: tuple[int, int] | None = None
    words: list[str] = field(default_factory=list)


def _named(word: str, names: tuple[str, ...]) -> int | None:
    """1 + the index of the name ``word`` starts (three letters at least): "dec" -> 12."""
    word = word.rstrip(".")
    if len(word) < 3:
        return None
    return next((number for number, name in enumerate(names, 1) if name.startswith(word)), None)


def _day(year: str | None, month: int, day: int, today: date) -> date | None:
    """That day; without a year the nearest one to ``today`` that exists ("9 Jan" in December is
    next January's); None when there is no such day."""
    if year:
        try:
            return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
        except ValueError:
            return None
    days = []
    for candidate in range(today.year - 4, today.year + 5):  # 29/02: the nearest leap year
        try:
            days.append(date(candidate, month, day))
        except ValueError:
            continue
    return min(days, key=lambda d: abs(d - today), default=None)


def _date_in(match: re.Match, pattern: re.Pattern, today: date) -> tuple[bool, date | None]:
    """(whether ``match`` is a date at all, the day it names or None)."""
    groups = match.groups()
    if pattern is ISO_DATE:
        return True, _day(groups[0], int(groups[1]), int(groups[2]), today)
    if pattern is NUMERIC_DATE:
        return True, _day(groups[2], int(groups[1]), int(groups[0]), today)
    day, month_word, year = groups if pattern is DAY_MONTH else (groups[1], groups[0], groups[2])
    month = _named(month_word, MONTHS)
    return (month is not None), (_day(year, month, int(day), today) if month else None)


def read_session_term(term: str, today: date) -> SessionTerm:
    """``term`` as typed at the desk: "Wed 09 Dec", "09 Dec", "Dec 9", "2026-12-09", "9/12",
    "09.12.2026", "09:00", "Wed", with words for the product, room or tutor around them."""
    text = f" {term.lower()} "
    found = SessionTerm()
    if (match := TIME_TERM.search(text)) and int(match[1]) < 24 and int(match[2]) < 60:
        found.time = (int(match[1]), int(match[2]))
        text = f"{text[: match.start()]} {text[match.end() :]}"
    for pattern in (ISO_DATE, NUMERIC_DATE, DAY_MONTH, MONTH_DAY):
        dated = next(((m, d) for m in pattern.finditer(text) if (d := _date_in(m, pattern, today))[0]), None)
        if dated is not None:
            match, (_, found.day) = dated
            found.impossible = found.day is None
            text = f"{text[: match.start()]} {text[match.end() :]}"
            break
    for word in text.replace("·", " ").replace(",", " ").split():
        weekday = _named(word, WEEKDAYS)
        if weekday is not None and found.weekday is None:
            found.weekday = weekday
        else:
            found.words.append(word)
    return found


def search_sessions(sessions: QuerySet[Session], term: str, *, now: datetime | None = None) -> QuerySet[Session]:
    """Of ``sessions``, those ``term`` describes (``read_session_term``): on its day, weekday and
    local time, each word in the product's name or code, the room or the tutor's name. A day
    that does not exist finds nothing. Still one query."""
    tz = timezone.get_default_timezone()
    found = read_session_term(term, timezone.localdate(now or timezone.now(), tz))
    if found.impossible:
        return sessions.none()
    if found.day is not None:
        start = timezone.make_aware(datetime.combine(found.day, time.min), tz)
        end = timezone.make_aware(datetime.combine(found.day + timedelta(days=1), time.min), tz)
        sessions = sessions.filter(starts_at__gte=start, starts_at__lt=end)
    if found.weekday is not None:
        sessions = sessions.alias(local_weekday=ExtractIsoWeekDay("starts_at", tzinfo=tz)).filter(
            local_weekday=found.weekday
        )
    if found.time is not None:
        sessions = sessions.alias(
            local_hour=ExtractHour("starts_at", tzinfo=tz), local_minute=ExtractMinute("starts_at", tzinfo=tz)
        ).filter(local_hour=found.time[0], local_minute=found.time[1])
    for word in found.words:
        sessions = sessions.filter(
            Q(product__name__icontains=word)
            | Q(product__code__icontains=word)
            | Q(room__icontains=word)
            | Q(tutor__user__first_name__icontains=word)
            | Q(tutor__user__last_name__icontains=word)
        )
    return sessions


def sessions_to_book(term: str = "", *, student: User | int | None = None) -> QuerySet[Session]:
    """The add-booking form's session picker: what the booking rules accept (for ``student`` once
    chosen: ``bookable_sessions``), with a seat free, matching ``term``; soonest first, product loaded."""
    sessions = sessions_open_to_booking() if student is None else bookable_sessions(student)
    sessions = search_sessions(sessions.filter(seats_taken__lt=F("capacity")), term)
    return sessions.select_related("product").order_by("starts_at", "pk")


def student_search(term: str, *, prefix: str = "") -> Q:
    """The one rule for finding a student by what staff type, for a queryset of users (``prefix``
    "": the student picker) or of rows reaching one (``prefix`` "student": the bookings list).

    A phone number in any format ("90 123 45 67", "+998901234567", "998 90 1234567") is its digits
    within the stored E.164 number; otherwise every word is in the name, e-mail or phone."""
    path = f"{prefix}__" if prefix else ""
    term = term.strip()
    digits = re.sub(r"\D", "", term)
    if PHONE_TERM.fullmatch(term) and len(digits) >= 4:
        return Q(**{f"{path}phone__contains": digits})
    found = Q()
    for word in term.split():
        found &= (
            Q(**{f"{path}first_name__icontains": word})
            | Q(**{f"{path}last_name__icontains": word})
            | Q(**{f"{path}email__icontains": word})
            | Q(**{f"{path}phone__icontains": word})
        )
    return found


def students_matching(term: str) -> QuerySet[User]:
    """The add-booking form's student picker: students (never staff) ``student_search`` finds, by name."""
    students = User.objects.students().filter(is_staff=False).filter(student_search(term))
    return students.order_by("last_name", "first_name", "pk")


def live_booking_for(reference: str) -> Booking | None:
    """The booking a rescheduled booking moved to, following the reschedule chain to its end (one
    query per move, ``MAX_MOVES`` at most); None when ``reference`` (any case) was never moved."""
    reference = reference.strip().upper()
    if not REFERENCE_TERM.fullmatch(reference):
        return None
    live = Booking.objects.filter(rescheduled_from__reference=reference).first()
    for _ in range(MAX_MOVES - 1):
        if live is None or (moved := Booking.objects.filter(rescheduled_from=live).first()) is None:
            break
        live = moved
    return live


def app_users(user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` who have signed in to the students' app (an API token was issued to
    them): the people whose booking events are kept as notifications for their app's bell.

    One query for any number of ids: the expiry sweep asks it for 25,000 students a batch. Storing
    a notification for every expired booking of students who never opened the app made the
    sweep 39x the naive loop instead of 154x (bench/expiry_sweep.py, issue 13's note).
    """
    ids = {pk for pk in user_ids if pk is not None}
    if not ids:
        return set()
    tokens = OutstandingToken.objects.filter(user_id__in=ids).order_by()
    return set(tokens.values_list("user_id", flat=True).distinct())
