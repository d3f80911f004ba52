"""Changing a session itself: creating and editing it, capacity, closing, reopening, cancelling with
its bookings, duplicating.

What a session may be (times, tutor, capacity, no clash) is decided in ``bookings.services.schedule``
for every caller; each change here writes the session's history (``SessionEvent``) through
``bookings.services.session_history``, whoever makes it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from backoffice.models import User
from bookings.errors import BookingNotAllowed, InvalidTransition
from bookings.models import (
    SEAT_HOLDING,
    Booking,
    CancelReason,
    Product,
    Session,
    SessionAction,
    SessionEvent,
    SessionSource,
    SessionStatus,
    Tutor,
)
from bookings.services import schedule
from bookings.services import session_history as history
from bookings.services._common import known_actor, publish_slot, slot_data
from bookings.services.schedule import SessionChangeRefused
from bookings.services.transitions import cancel_bookings
from realtime.events import publish_many, session_group, staff_group

MAX_DUPLICATE_WEEKS = 26

# Fields that change what students booked; frozen while a booking holds a seat (move them with
# reschedule instead).
BOOKED_FIELDS = ("product", "tutor", "starts_at", "ends_at")

# A status change: the statuses it may start from, and the verb its refusal uses.
STATUS_CHANGES: dict[str, tuple[tuple[str, ...], str]] = {
    SessionStatus.CLOSED: ((SessionStatus.OPEN,), "closed"),
    SessionStatus.OPEN: ((SessionStatus.CLOSED,), "reopened"),
    SessionStatus.CANCELLED: ((SessionStatus.OPEN, SessionStatus.CLOSED), "cancelled"),
}


class Keep(Enum):
    """``update_session``'s default for a field the caller leaves as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP

# How each way of making a session is recorded in its history.
CREATION_ACTIONS = {
    SessionSource.MANUAL: SessionAction.CREATED,
    SessionSource.IMPORT: SessionAction.IMPORTED,
    SessionSource.AVAILABILITY: SessionAction.GENERATED,
}
# Fields whose change can make a session clash with another (its tutor's or its room's). Not the
# status: a cancelled session is never made live again, and open and closed ones both take their time.
CLASH_FIELDS = frozenset({"product", "tutor", "room", "starts_at", "ends_at"})


def create_session(
    *,
    product: Product,
    starts_at: datetime,
    tutor: Tutor | None = None,
    room: str = "",
    ends_at: datetime | None = None,
    capacity: int | None = None,
    status: str = SessionStatus.OPEN,
    source: str = SessionSource.MANUAL,
    actor: User | None = None,
) -> Session:
    """Add a session, or refuse it (``SessionChangeRefused`` naming the field) and add nothing.

    ``ends_at`` defaults to the start plus the product's duration, ``capacity`` to the product's
    default capacity. The rules are ``bookings.services.schedule``'s: times, tutor, capacity, a
    start in the future, no clash with the tutor's sessions (with buffers) or the room's.
    """
    ends_at = ends_at or starts_at + timedelta(minutes=product.duration_minutes)
    capacity = product.default_capacity if capacity is None else capacity
    if status not in SessionStatus.values:
        raise SessionChangeRefused(f"“{status}” is not a session status.", field="status")
    session = Session(
        product=product,
        tutor=tutor,
        room=room,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        status=status,
        source=source,
        created_by=known_actor(actor),
    )
    now = timezone.now()
    if verdict := schedule.refusal(session, now=now):
        raise verdict.error()
    try:
        with transaction.atomic():
            if tutor is not None:
                schedule.lock_tutors([tutor.pk])
            if verdict := schedule.Timetable.around([session]).clash(session):
                raise verdict.error()
            session.save(force_insert=True)
            history.write([history.creation(session, CREATION_ACTIONS[source], actor=session.created_by, now=now)])
            publish_slot(session.pk, slot_data(session.pk, capacity=capacity, seats_taken=0, status=status))
    except IntegrityError as exc:
        # The check above passed, but another session for this tutor and start committed meanwhile.
        raise _clash(tutor) from exc
    return session


def update_session(
    session: Session,
    *,
    product: Product | Literal[Keep.KEEP] = KEEP,
    tutor: Tutor | Literal[Keep.KEEP] | None = KEEP,
    room: str | Literal[Keep.KEEP] = KEEP,
    starts_at: datetime | Literal[Keep.KEEP] = KEEP,
    ends_at: datetime | Literal[Keep.KEEP] | None = KEEP,
    capacity: int | Literal[Keep.KEEP] | None = KEEP,
    status: str | Literal[Keep.KEEP] = KEEP,
    actor: User | None = None,
) -> Session:
    """Apply an edit of a session whole, or refuse it whole (a ``BookingError``) and change nothing.

    Every field left as ``KEEP`` stays as it is; ``ends_at=None`` is the start plus the product's
    duration and ``capacity=None`` the product's default capacity. The edit keeps the rules of
    ``bookings.services.schedule`` for what it changes; the capacity never goes below the seats
    taken; a status changes only as closing, reopening or cancelling allow; and product, tutor and
    times are frozen while a booking holds a seat. A session still holding bookings is not
    cancelled here: ``cancel_session`` does that, cancelling them with a reason.
    """
    asked = {
        name: value
        for name, value in (
            ("product", product),
            ("tutor", tutor),
            ("room", room),
            ("starts_at", starts_at),
            ("ends_at", ends_at),
            ("capacity", capacity),
            ("status", status),
        )
        if value is not KEEP
    }
    return _edit(session, asked, actor=actor)


def _edit(session: Session, asked: dict[str, Any], *, actor: User | None, transition: bool = False) -> Session:
    """``update_session``'s work; ``transition=True`` refuses a status the session has already
    (closing a closed session is an error, not nothing to do)."""
    try:
        with transaction.atomic():
            # Judged and written under the session's row lock: a booking taking a seat waits for
            # it, so the seats counted here cannot grow past a lowered capacity or into a session
            # being cancelled before the UPDATE below lands.
            current = (
                Session.objects.select_for_update(of=("self",))
                .select_related("product", "tutor__user")
                .get(pk=session.pk)
            )
            if transition and asked["status"] == current.status:
                _check_status_change(current, to=asked["status"], taken=current.seats_taken)
            changes = _judge_edit(current, asked)
            if changes:
                Session.objects.filter(pk=current.pk).update(**changes)
                history.write(history.edits(current, changes, actor=known_actor(actor), now=timezone.now()))
                if "capacity" in changes or "status" in changes:
                    publish_slot(current.pk)
    except IntegrityError as exc:
        # Under the row lock only the one-live-session-per-tutor-and-start index can still object:
        # a session for this tutor and start written by something that does not take this lock.
        raise _clash(asked.get("tutor", session.tutor)) from exc
    for name, value in changes.items():
        setattr(session, name, value)
    session.seats_taken = current.seats_taken
    return session


def _judge_edit(current: Session, asked: dict[str, Any]) -> dict[str, Any]:
    """The columns the edit changes, once every rule passed; raises the first rule it breaks."""
    product = asked.get("product", current.product)
    if asked.get("ends_at", KEEP) is None:
        asked["ends_at"] = asked.get("starts_at", current.starts_at) + timedelta(minutes=product.duration_minutes)
    if asked.get("capacity", KEEP) is None:
        asked["capacity"] = product.default_capacity
    changes = {name: value for name, value in asked.items() if _column(value) != _column(getattr(current, name))}
    if not changes:
        return changes

    taken = current.seats_taken
    frozen = [name for name in BOOKED_FIELDS if name in changes]
    if taken and frozen:
        names = ", ".join(Session._meta.get_field(name).verbose_name for name in frozen)
        raise SessionChangeRefused(
            f"{taken} booking(s) hold a seat, so the {names} cannot change: reschedule them to another session.",
            field=frozen[0],
        )
    if "status" in changes:
        _check_status_change(current, to=changes["status"], taken=taken)
    if "capacity" in changes and changes["capacity"] < taken:
        raise SessionChangeRefused(_below_seats_taken(taken), field="capacity")
    edited = copy.copy(current)
    for name, value in changes.items():
        setattr(edited, name, value)
    if verdict := schedule.refusal(edited, now=timezone.now(), changed=changes.keys()):
        raise verdict.error()
    if CLASH_FIELDS & changes.keys():
        if edited.tutor_id is not None:
            schedule.lock_tutors([edited.tutor_id])  # after the session's row: the order every edit takes
        if verdict := schedule.Timetable.around([edited]).clash(edited):
            raise verdict.error()
    return changes


def _column(value: Any) -> Any:
    """What is compared to tell a change: a related object by its id."""
    return value.pk if hasattr(value, "pk") else value


def _below_seats_taken(taken: int) -> str:
    return f"{taken} seats are booked: the capacity cannot be lower than that."


def _check_status_change(current: Session, *, to: str, taken: int) -> None:
    if to not in STATUS_CHANGES:
        raise SessionChangeRefused(f"“{to}” is not a session status.", field="status")
    allowed, verb = STATUS_CHANGES[to]
    if current.status not in allowed:
        raise InvalidTransition(f"{current} is {SessionStatus(current.status).label.lower()}: it cannot be {verb}.")
    if to == SessionStatus.CANCELLED and taken:
        raise SessionChangeRefused(
            f"{taken} booking(s) still hold a seat: cancel the session with its “Cancel session” action, "
            "which cancels them too, or reschedule them first.",
            field="status",
        )


def _clash(tutor: Tutor | None) -> SessionChangeRefused:
    who = tutor or "The tutor"
    return SessionChangeRefused(f"{who} already has a session starting at this time.", field="starts_at")


def change_capacity(session: Session, *, capacity: int, actor: User | None = None) -> Session:
    """Set the number of seats: an edit of the capacity alone (never below the seats taken)."""
    return _edit(session, {"capacity": capacity}, actor=actor)


def close_session(session: Session, *, actor: User | None = None) -> Session:
    """Stop new bookings; existing bookings keep their seats."""
    return _edit(session, {"status": SessionStatus.CLOSED}, actor=actor, transition=True)


def reopen_session(session: Session, *, actor: User | None = None) -> Session:
    """Take bookings again; never once the session has started."""
    return _edit(session, {"status": SessionStatus.OPEN}, actor=actor, transition=True)


def cancel_session(
    session: Session, *, reason: str = CancelReason.STAFF, actor: User | None = None, note: str = ""
) -> int:
    """Cancel the session and, in the same transaction, every booking that holds a seat in it.

    Each booking goes through the same cancellation as a single one (history, seat, reminders,
    event); ``note``, the words staff gave for it, is kept in each booking's history and the
    session's. Returns how many bookings were cancelled.
    """
    extra = {"note": note} if note else {}
    if reason not in (CancelReason.STAFF, CancelReason.TUTOR):
        raise BookingNotAllowed("A session is cancelled by staff or by its tutor.")
    with transaction.atomic():
        _set_status(session, to=SessionStatus.CANCELLED)
        # The set-based cancellation (the state machine's move) over the session's bookings: one
        # history row and one ``booking.cancelled`` event each, the seats released once. The
        # session's status is already cancelled, so no new booking can join them meanwhile.
        holding = Booking.objects.filter(session=session, status__in=SEAT_HOLDING)
        moved = cancel_bookings(
            holding.select_for_update().order_by("pk"),
            reason=reason,
            actor=actor,
            now=timezone.now(),
            announce={"reason": reason, "session_cancelled": True},
            session_cancelled=True,
            **extra,
        )
        data = {"reason": reason, "bookings": len(moved), **extra}
        history.write([history.event(session, SessionAction.CANCELLED, actor=known_actor(actor), data=data)])
        if not moved:  # a move announces the seats of the sessions it freed; else say it is cancelled
            publish_slot(session.pk)
        session.seats_taken = 0
    return len(moved)


@dataclass(frozen=True)
class SkippedStart:
    starts_at: datetime
    reason: str


@dataclass(frozen=True)
class Duplication:
    """What ``duplicate_session`` did: the sessions it created and the weeks it left out, with why."""

    created: list[Session] = field(default_factory=list)
    skipped: list[SkippedStart] = field(default_factory=list)


def duplicate_session(session: Session, *, weeks: int, actor: User | None = None) -> Duplication:
    """Copy ``session`` to the same weekday and wall-clock time in each of the next ``weeks`` weeks.

    Weeks are stepped on the centre's clock (``TIME_ZONE``), not in 168-hour blocks, so a 10:00
    class stays at 10:00 across a daylight-saving change. A week is skipped, and reported, when its
    start does not exist on that day's clock or the copy breaks a rule of
    ``bookings.services.schedule`` (in the past, the tutor or the room taken, ...). Everything else
    is created in one transaction, open and with no seats taken, and recorded in the history of the
    source and of each copy.
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
        else:
            starts.append(start.astimezone(UTC))

    try:
        with transaction.atomic():
            if session.tutor_id:
                schedule.lock_tutors([session.tutor_id])
            copies = [_copy(session, start, start + duration, actor=actor) for start in starts]
            new = []
            for copy_, verdict in zip(copies, schedule.judge(copies, now=now), strict=True):
                if verdict is None:
                    new.append(copy_)
                else:
                    skipped.append(SkippedStart(copy_.starts_at, verdict.rule.value))
            created = Session.objects.bulk_create(new)
            if created:
                history.write(_duplication_history(session, created, skipped, actor=known_actor(actor), now=now))
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


def _copy(session: Session, starts_at: datetime, ends_at: datetime, *, actor: User | None) -> Session:
    return Session(
        product=session.product,
        tutor=session.tutor,
        room=session.room,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=session.capacity,
        status=SessionStatus.OPEN,
        source=SessionSource.MANUAL,
        created_by=known_actor(actor),
    )


def _duplication_history(
    source: Session, created: list[Session], skipped: list[SkippedStart], *, actor: User | None, now: datetime
) -> list[SessionEvent]:
    """``session.duplicated`` on the source (its copies) and on each copy (what it is a copy of)."""
    origin = {"copy_of": source.pk, "copy_of_starts_at": history.shown(source.starts_at)}
    events = [history.creation(c, SessionAction.DUPLICATED, actor=actor, now=now, **origin) for c in created]
    data = {"copies": [history.shown(c.starts_at) for c in created], "skipped": len(skipped)}
    events.append(history.event(source, SessionAction.DUPLICATED, actor=actor, data=data, now=now))
    return events


def _set_status(session: Session, *, to: str) -> Session:
    allowed, verb = STATUS_CHANGES[to]
    # Compare-and-set, like a booking's status: two staff members acting at once cannot both win.
    if not Session.objects.filter(pk=session.pk, status__in=allowed).update(status=to):
        current = Session.objects.values_list("status", flat=True).get(pk=session.pk)
        raise InvalidTransition(f"{session} is {SessionStatus(current).label.lower()}: it cannot be {verb}.")
    session.status = to
    return session
