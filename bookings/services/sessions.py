"""Changing a session itself: capacity, closing, reopening, cancelling with its bookings, duplicating."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.errors import BookingNotAllowed, InvalidTransition
from bookings.models import SEAT_HOLDING, Booking, CancelReason, Session, SessionSource, SessionStatus, Tutor
from bookings.services._common import _actor, publish_booking, publish_slot, slot_data
from bookings.services.transitions import _cancel
from realtime.events import publish_many, session_group, staff_group

MAX_DUPLICATE_WEEKS = 26


def change_capacity(session: Session, *, capacity: int, actor: Any = None) -> Session:
    """Set the number of seats; never below the seats already taken.

    One conditional UPDATE: a booking taking a seat while staff lower the capacity either lands
    first (and the change is refused with the new count) or finds the smaller capacity.
    """
    if capacity < 1:
        raise BookingNotAllowed("A session needs at least one seat.")
    with transaction.atomic():
        if not Session.objects.filter(pk=session.pk, seats_taken__lte=capacity).update(capacity=capacity):
            taken = Session.objects.values_list("seats_taken", flat=True).get(pk=session.pk)
            raise BookingNotAllowed(f"{taken} seats are booked: the capacity cannot be lower than that.")
        session.capacity = capacity
        session.seats_taken = Session.objects.values_list("seats_taken", flat=True).get(pk=session.pk)
        publish_slot(session.pk)
    return session


def close_session(session: Session, *, actor: Any = None) -> Session:
    """Stop new bookings; existing bookings keep their seats."""
    with transaction.atomic():
        _set_status(session, allowed=[SessionStatus.OPEN], to=SessionStatus.CLOSED, verb="closed")
        publish_slot(session.pk)
    return session


def reopen_session(session: Session, *, actor: Any = None) -> Session:
    if session.ends_at <= timezone.now():
        raise BookingNotAllowed(f"{session} has ended: it cannot be reopened.")
    with transaction.atomic():
        _set_status(session, allowed=[SessionStatus.CLOSED], to=SessionStatus.OPEN, verb="reopened")
        publish_slot(session.pk)
    return session


def cancel_session(session: Session, *, reason: str = CancelReason.STAFF, actor: Any = None, note: str = "") -> int:
    """Cancel the session and, in the same transaction, every booking that holds a seat in it.

    Each booking goes through the same cancellation as a single one (history, seat, reminders,
    event); ``note``, the words staff gave for it, is kept in each booking's history. Returns how
    many bookings were cancelled.
    """
    extra = {"note": note} if note else {}
    if reason not in (CancelReason.STAFF, CancelReason.TUTOR):
        raise BookingNotAllowed("A session is cancelled by staff or by its tutor.")
    with transaction.atomic():
        _set_status(
            session, allowed=[SessionStatus.OPEN, SessionStatus.CLOSED], to=SessionStatus.CANCELLED, verb="cancelled"
        )
        # Read once with what each cancellation needs; the session's status is already cancelled,
        # so no new booking can join this list while we work through it.
        bookings = list(
            Booking.objects.select_related("session__product", "session__tutor", "student")
            .filter(session=session, status__in=SEAT_HOLDING)
            .order_by("pk")
        )
        for booking in bookings:
            _cancel(booking, reason=reason, actor=actor, session_cancelled=True, **extra)
            publish_booking("booking.cancelled", booking, reason=reason, session_cancelled=True)
        publish_slot(session.pk)
        session.seats_taken = 0
    return len(bookings)


@dataclass(frozen=True)
class SkippedStart:
    starts_at: datetime
    reason: str


@dataclass(frozen=True)
class Duplication:
    """What ``duplicate_session`` did: the sessions it created and the weeks it left out, with why."""

    created: list[Session] = field(default_factory=list)
    skipped: list[SkippedStart] = field(default_factory=list)


def duplicate_session(session: Session, *, weeks: int, actor: Any = None) -> Duplication:
    """Copy ``session`` to the same weekday and wall-clock time in each of the next ``weeks`` weeks.

    Weeks are stepped on the centre's clock (``TIME_ZONE``), not in 168-hour blocks, so a 10:00
    class stays at 10:00 across a daylight-saving change. A week is skipped, and reported, when its
    start has passed, does not exist on that day's clock, or clashes with a non-cancelled session:
    one of the same tutor overlapping it or, for a session without a tutor, one of the same product
    in the same room. Everything else is created in one transaction, open and with no seats taken.
    """
    if not 1 <= weeks <= MAX_DUPLICATE_WEEKS:
        raise BookingNotAllowed(f"A session is duplicated for 1 to {MAX_DUPLICATE_WEEKS} weeks.")
    zone = ZoneInfo(settings.TIME_ZONE)
    wall = session.starts_at.astimezone(zone).replace(tzinfo=None)
    # Durations and ends are worked out in UTC: Python subtracts and adds datetimes that share a
    # zone on their wall clocks, which is an hour out across a change.
    duration = session.ends_at.astimezone(UTC) - session.starts_at.astimezone(UTC)
    now = timezone.now()
    skipped: list[SkippedStart] = []
    starts: list[datetime] = []
    for week in range(1, weeks + 1):
        local = wall + timedelta(weeks=week)
        start = local.replace(tzinfo=zone)
        if start.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
            # Inside a spring-forward gap: that wall-clock time never happens on this day.
            skipped.append(SkippedStart(start, "that time does not exist on the clock that day"))
        elif start <= now:
            skipped.append(SkippedStart(start, "it is in the past"))
        else:
            starts.append(start.astimezone(UTC))

    try:
        with transaction.atomic():
            if session.tutor_id:
                # Two duplications for one tutor at once would both find the same week free; the
                # tutor's row lock makes the second wait and then see the first one's sessions.
                list(Tutor.objects.select_for_update().filter(pk=session.tutor_id).values_list("pk"))
            busy = _busy_spans(session, starts, duration)
            new: list[Session] = []
            for start in starts:
                end = start + duration
                if any(b_start < end and start < b_end for b_start, b_end in busy):
                    who = session.tutor or f"{session.product} in {session.room or 'no room'}"
                    skipped.append(SkippedStart(start, f"{who} already has a session at that time"))
                    continue
                new.append(
                    Session(
                        product_id=session.product_id,
                        tutor_id=session.tutor_id,
                        room=session.room,
                        starts_at=start,
                        ends_at=end,
                        capacity=session.capacity,
                        status=SessionStatus.OPEN,
                        source=SessionSource.MANUAL,
                        created_by=_actor(actor),
                    )
                )
            created = Session.objects.bulk_create(new)
            publish_many(
                [
                    (
                        "slot.updated",
                        slot_data(s.pk, capacity=s.capacity, seats_taken=0, status=s.status),
                        [staff_group(), session_group(s.pk)],
                        (),
                    )
                    for s in created
                ]
            )
    except IntegrityError as exc:
        # The row lock covers tutors; this is a session written at the same instant by something
        # that does not take it (an import, the admin's add form): refuse rather than half-create.
        raise BookingNotAllowed("Another session was added at one of these times just now; try again.") from exc
    skipped.sort(key=lambda item: item.starts_at)
    return Duplication(created=created, skipped=skipped)


def _busy_spans(session: Session, starts: list[datetime], duration: timedelta) -> list[tuple[datetime, datetime]]:
    """(start, end) of every live session the copies of ``session`` could clash with, in one query."""
    if not starts:
        return []
    query = Session.objects.exclude(status=SessionStatus.CANCELLED).filter(
        starts_at__lt=starts[-1] + duration, ends_at__gt=starts[0]
    )
    if session.tutor_id:
        query = query.filter(tutor_id=session.tutor_id)
    else:
        query = query.filter(tutor__isnull=True, product_id=session.product_id, room=session.room)
    return list(query.values_list("starts_at", "ends_at"))


def _set_status(session: Session, *, allowed: list[str], to: str, verb: str) -> Session:
    # Compare-and-set, like a booking's status: two staff members acting at once cannot both win.
    if not Session.objects.filter(pk=session.pk, status__in=allowed).update(status=to):
        current = Session.objects.values_list("status", flat=True).get(pk=session.pk)
        raise InvalidTransition(f"{session} is {SessionStatus(current).label.lower()}: it cannot be {verb}.")
    session.status = to
    return session
