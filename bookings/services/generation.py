"""Generating lesson sessions from tutors' weekly availability.

How a tutor's week becomes sessions:

- Windows and date exceptions are wall-clock times in the tutor's zone. Each window is cut, in
  wall time, into lessons of ``lesson_minutes`` spaced by ``buffer_before + lesson + buffer_after``
  from the window's start; a lesson must lie inside the window, its buffers may reach past the
  edges (they only keep lessons apart). So a tutor's lessons sit at the same local times every
  day, daylight-saving days included.
- A wall time becomes an instant in the tutor's zone. An ambiguous one (the repeated hour when
  clocks go back) is read as its first occurrence (``fold=0``), so it yields one session, never
  two. One that does not exist (the hour skipped when clocks go forward) is skipped and reported.
  Lengths and overlaps are real time: ``ends_at = starts_at + lesson_minutes``.
- A lesson is not created when a full-day exception covers its date or a partial one overlaps
  it, when the window's product is not on sale, when it starts before ``now + min_notice``, or
  when it breaks a rule every session keeps (``bookings.services.schedule``): above all, when it
  (padded by the buffers) overlaps one of the tutor's live sessions, so any two of a tutor's
  lessons are at least ``buffer_after + buffer_before`` apart. A session cancelled at exactly that
  start stays cancelled: staff cancelled that lesson, and the next nightly run must not bring it
  back.
- Every lesson created gets its ``session.generated`` history, written with the sessions in
  batches.
- Re-running creates nothing new: every lesson it would create exists already.
"""

from __future__ import annotations

import enum
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from backoffice.models import User
from bookings.conf import conf
from bookings.models import Availability, DateException, Session, SessionAction, SessionSource, SessionStatus, Tutor
from bookings.services import schedule
from bookings.services import session_history as history
from bookings.services._common import known_actor, slot_data
from bookings.services.schedule import Rule
from realtime.events import publish_many, staff_group, tutor_group

# A concurrent insert at one of our starts (staff adding that session by hand) fails the batch on
# the unique constraint; the retry re-reads the tutor's sessions and so leaves that slot out.
ATTEMPTS = 2


class SkipReason(enum.StrEnum):
    SCHEDULED = "already scheduled"
    CANCELLED = "cancelled earlier"
    OVERLAP = "overlapping another session"
    EXCEPTION = "during time off"
    NOTICE = "inside the minimum notice"
    PRODUCT_OFF_SALE = "product not on sale"
    NO_SUCH_TIME = "in the daylight-saving gap"


# A session rule broken, in generation's words where it has its own; any other rule is its own reason.
RULE_REASONS = {Rule.TUTOR_BUSY: SkipReason.OVERLAP, Rule.ROOM_TAKEN: SkipReason.OVERLAP, Rule.PAST: SkipReason.NOTICE}


@dataclass(frozen=True)
class Skipped:
    local_start: datetime  # the tutor's wall-clock time, naive: it may not exist as an instant
    reason: SkipReason | Rule


@dataclass
class TutorGeneration:
    tutor: Tutor
    days: int
    created: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    inactive: bool = False

    def skipped_by_reason(self) -> dict[SkipReason | Rule, int]:
        counts: dict[SkipReason | Rule, int] = {}
        for skip in self.skipped:
            counts[skip.reason] = counts.get(skip.reason, 0) + 1
        return counts

    def summary(self) -> str:
        """For people: ``Aziza K.: 12 created over 14 days, 3 skipped (2 already scheduled, 1 during time off)``."""
        if self.inactive:
            return f"{self.tutor}: inactive, nothing generated"
        text = f"{self.tutor}: {self.created} created over {self.days} days"
        if self.skipped:
            reasons = ", ".join(f"{n} {reason}" for reason, n in self.skipped_by_reason().items())
            text += f", {len(self.skipped)} skipped ({reasons})"
        return text


@dataclass
class GenerationReport:
    tutors: list[TutorGeneration] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(t.created for t in self.tutors)

    @property
    def skipped(self) -> int:
        return sum(len(t.skipped) for t in self.tutors)


def generate_sessions(
    *,
    tutor: Tutor | None = None,
    days: int | None = None,
    now: datetime | None = None,
    actor: User | None = None,
) -> GenerationReport:
    """Create the sessions of the next ``days`` local days from availability; see the module doc.

    ``tutor=None`` generates for every active tutor. ``days`` defaults to
    ``settings.SEATDESK_GENERATE_DAYS`` and is capped at each tutor's ``max_advance_days``. Each
    tutor is one transaction of a few queries, whatever the number of slots.
    """
    days = conf().generate_days if days is None else days
    if days < 1:
        raise ValueError("Generate at least one day of sessions.")
    now = now or timezone.now()
    tutors = [tutor] if tutor is not None else list(Tutor.objects.filter(is_active=True).select_related("user"))
    report = GenerationReport()
    for one in tutors:
        report.tutors.append(_generate_for_tutor(one, days=days, now=now, actor=actor))
    return report


def _generate_for_tutor(tutor: Tutor, *, days: int, now: datetime, actor: User | None) -> TutorGeneration:
    attempt = 1
    while True:
        try:
            with transaction.atomic():
                # Two generators for one tutor (the daily task on two clusters, a manager's click)
                # would both read the same free slots; the row lock makes the second wait and then
                # read the first one's sessions. NO KEY: inserts that only reference the tutor (a
                # session added by hand, a booking) need not wait. SQLite's IMMEDIATE transactions
                # serialise anyway.
                locked = Tutor.objects.select_for_update(no_key=True).select_related("user").get(pk=tutor.pk)
                return _generate_locked(locked, days=days, now=now, actor=actor)
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise
            attempt += 1


def _generate_locked(tutor: Tutor, *, days: int, now: datetime, actor: User | None) -> TutorGeneration:
    days = min(days, tutor.max_advance_days)
    result = TutorGeneration(tutor=tutor, days=days)
    if not tutor.is_active:
        result.inactive = True
        return result
    if days < 1:
        return result

    zone = tutor.tzinfo
    first_day = now.astimezone(zone).date()
    last_day = first_day + timedelta(days=days - 1)
    windows = list(
        Availability.objects.filter(tutor=tutor).select_related("product").order_by("weekday", "start_time", "pk")
    )
    exceptions: dict[date, list[DateException]] = {}
    for exception in DateException.objects.filter(tutor=tutor, date__gte=first_day, date__lte=last_day):
        exceptions.setdefault(exception.date, []).append(exception)

    lesson = timedelta(minutes=tutor.lesson_minutes)
    calendar = _TutorCalendar.read(tutor, first_day, last_day)
    earliest = now + tutor.min_notice
    new: list[Session] = []
    for day in _days(first_day, last_day):
        day_off = exceptions.get(day, [])
        for window in windows:
            if not _window_applies(window, day):
                continue
            for local_start in _wall_slots(window, day, tutor):
                starts_at = _instant(local_start, zone)
                session = None
                if starts_at is None:
                    reason = SkipReason.NO_SUCH_TIME
                elif _hits_exception(local_start, local_start + lesson, day_off):
                    reason = SkipReason.EXCEPTION
                elif not window.product.is_active:
                    reason = SkipReason.PRODUCT_OFF_SALE
                elif starts_at < earliest and starts_at not in calendar.live:  # one made earlier is "scheduled"
                    reason = SkipReason.NOTICE
                else:
                    session = _session(window, tutor, starts_at, starts_at + lesson, actor)
                    reason = calendar.conflict(session, now=now)
                if session is not None and reason is None:
                    new.append(session)
                    calendar.add(session)
                else:
                    result.skipped.append(Skipped(local_start, reason))

    if new:
        created = Session.objects.bulk_create(new)
        who = known_actor(actor)
        written = timezone.now()  # when it happened; ``now`` only places the days generated
        history.write(history.creation(s, SessionAction.GENERATED, actor=who, now=written) for s in created)
        result.created = len(created)
        _publish(tutor, created)
    return result


class _TutorCalendar:
    """The tutor's sessions around the range, to check each planned lesson against in memory."""

    def __init__(self) -> None:
        self.live: set[datetime] = set()
        self.cancelled: set[datetime] = set()
        self.timetable = schedule.Timetable()  # live sessions, for the rules every session keeps

    @classmethod
    def read(cls, tutor: Tutor, first_day: date, last_day: date) -> _TutorCalendar:
        calendar = cls()
        # A day's margin each side catches sessions whose buffers reach into the range.
        zone = tutor.tzinfo
        range_start = datetime.combine(first_day, time(), tzinfo=zone) - timedelta(days=1)
        range_end = datetime.combine(last_day, time(), tzinfo=zone) + timedelta(days=2)
        rows = Session.objects.filter(tutor=tutor, starts_at__lt=range_end, ends_at__gt=range_start).values_list(
            "pk", "product_id", "room", "starts_at", "ends_at", "status", "product__name"
        )
        for pk, product_id, room, starts_at, ends_at, status, name in rows:
            if status == SessionStatus.CANCELLED:
                calendar.cancelled.add(starts_at)
            else:
                calendar.live.add(starts_at)
                calendar.timetable.add_row(pk, tutor.pk, product_id, room, starts_at, ends_at, name)
        return calendar

    def add(self, session: Session) -> None:
        self.live.add(session.starts_at)
        self.timetable.add(session)

    def conflict(self, session: Session, *, now: datetime) -> SkipReason | Rule | None:
        if session.starts_at in self.live:
            return SkipReason.SCHEDULED
        if session.starts_at in self.cancelled:
            return SkipReason.CANCELLED
        verdict = schedule.refusal(session, now=now) or self.timetable.clash(session)
        return None if verdict is None else RULE_REASONS.get(verdict.rule, verdict.rule)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _window_applies(window: Availability, day: date) -> bool:
    return (
        window.weekday == day.weekday()
        and (window.valid_from is None or window.valid_from <= day)
        and (window.valid_until is None or day <= window.valid_until)
    )


def _wall_slots(window: Availability, day: date, tutor: Tutor) -> Iterator[datetime]:
    """The lesson starts of ``window`` on ``day``, as naive wall-clock times."""
    lesson = timedelta(minutes=tutor.lesson_minutes)
    step = timedelta(minutes=tutor.buffer_before_minutes) + lesson + timedelta(minutes=tutor.buffer_after_minutes)
    start = datetime.combine(day, window.start_time)
    end = datetime.combine(day, window.end_time)
    while start + lesson <= end:
        yield start
        start += step


def _instant(local: datetime, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """The aware UTC instant a wall-clock time names in ``zone``, or None if clocks skip it.

    ``fold=0`` reads an ambiguous time as its first occurrence. A skipped time does not survive
    the round trip to UTC and back (03:30 on a spring-forward night comes back as 04:30).
    """
    aware = local.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        return None
    return instant


def _hits_exception(start: datetime, end: datetime, exceptions: list[DateException]) -> bool:
    """Whether a lesson (wall-clock times) falls on a day off or inside a partial exception."""
    for exception in exceptions:
        if exception.is_full_day:
            return True
        off_from = datetime.combine(exception.date, exception.start_time)
        off_until = datetime.combine(exception.date, exception.end_time)
        if start < off_until and off_from < end:
            return True
    return False


def _session(window: Availability, tutor: Tutor, starts_at: datetime, ends_at: datetime, actor: User | None) -> Session:
    return Session(
        product=window.product,
        tutor=tutor,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=window.product.default_capacity,
        status=SessionStatus.OPEN,
        source=SessionSource.AVAILABILITY,
        created_by=known_actor(actor),
    )


def _publish(tutor: Tutor, sessions: list[Session]) -> None:
    # Open calendars (staff and the tutor's own) add the new slots without a reload.
    groups = [staff_group(), tutor_group(tutor.user_id)]
    publish_many(
        [
            ("slot.updated", slot_data(s.pk, capacity=s.capacity, seats_taken=0, status=s.status), groups, ())
            for s in sessions
        ]
    )
