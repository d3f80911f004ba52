"""Changing a session itself: creating and editing it, capacity, closing, reopening, cancelling with
its bookings, duplicating."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.errors import BookingNotAllowed, InvalidTransition
from bookings.models import (
    SEAT_HOLDING,
    Booking,
    CancelReason,
    Product,
    Session,
    SessionSource,
    SessionStatus,
    Tutor,
)
from bookings.services._common import _actor, publish_booking, publish_slot, slot_data
from bookings.services.transitions import _cancel
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


class SessionChangeRefused(BookingNotAllowed):
    """A refused session edit; ``field`` names the field it is about, so a form can show it there."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


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
    actor: Any = None,
) -> Session:
    """Add a session. ``ends_at`` defaults to the start plus the product's duration, ``capacity`` to
    the product's default capacity; a tutor's second live session at the same start is refused."""
    ends_at = ends_at or starts_at + timedelta(minutes=product.duration_minutes)
    capacity = product.default_capacity if capacity is None else capacity
    _check_times(starts_at, ends_at)
    _check_capacity(capacity, taken=0)
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
        created_by=_actor(actor),
    )
    try:
        with transaction.atomic():
            if tutor is not None and status != SessionStatus.CANCELLED:
                _check_tutor_free(tutor, starts_at, session_id=None)
            session.save(force_insert=True)
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
    actor: Any = None,
) -> Session:
    """Apply an edit of a session whole, or refuse it whole (a ``BookingError``) and change nothing.

    Every field left as ``KEEP`` stays as it is; ``ends_at=None`` is the start plus the product's
    duration and ``capacity=None`` the product's default capacity. The rules are those of the
    single changes: capacity as ``change_capacity``, status as ``close_session``/``reopen_session``,
    and product, tutor and times frozen while a booking holds a seat. A session still holding
    bookings is not cancelled here: ``cancel_session`` does that, cancelling them with a reason.
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
            changes = _judge_edit(current, asked)
            if changes:
                Session.objects.filter(pk=current.pk).update(**changes)
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
    final = {name: changes.get(name, getattr(current, name)) for name in asked.keys() | {"starts_at", "ends_at"}}
    if "starts_at" in changes or "ends_at" in changes:
        _check_times(final["starts_at"], final["ends_at"])
    if "capacity" in changes:
        _check_capacity(changes["capacity"], taken=taken)
    if "status" in changes:
        _check_status_change(current, to=changes["status"], ends_at=final["ends_at"], taken=taken)
    tutor = changes.get("tutor", current.tutor)
    live = changes.get("status", current.status) != SessionStatus.CANCELLED
    if tutor is not None and live and {"tutor", "starts_at", "status"} & changes.keys():
        _check_tutor_free(tutor, final["starts_at"], session_id=current.pk)
    return changes


def _column(value: Any) -> Any:
    """What is compared to tell a change: a related object by its id."""
    return value.pk if hasattr(value, "pk") else value


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise SessionChangeRefused("The session must end after it starts.", field="ends_at")


def _check_capacity(capacity: int, *, taken: int) -> None:
    if capacity < 1:
        raise SessionChangeRefused("A session needs at least one seat.", field="capacity")
    if capacity < taken:
        raise SessionChangeRefused(_below_seats_taken(taken), field="capacity")


def _below_seats_taken(taken: int) -> str:
    return f"{taken} seats are booked: the capacity cannot be lower than that."


def _check_reopenable(session: Session, *, ends_at: datetime) -> None:
    if ends_at <= timezone.now():
        raise BookingNotAllowed(f"{session} has ended: it cannot be reopened.")


def _check_status_change(current: Session, *, to: str, ends_at: datetime, taken: int) -> None:
    if to not in STATUS_CHANGES:
        raise SessionChangeRefused(f"“{to}” is not a session status.", field="status")
    allowed, verb = STATUS_CHANGES[to]
    if to == SessionStatus.OPEN:
        _check_reopenable(current, ends_at=ends_at)
    if current.status not in allowed:
        raise InvalidTransition(f"{current} is {SessionStatus(current.status).label.lower()}: it cannot be {verb}.")
    if to == SessionStatus.CANCELLED and taken:
        raise SessionChangeRefused(
            f"{taken} booking(s) still hold a seat: cancel the session with its “Cancel session” action, "
            "which cancels them too, or reschedule them first.",
            field="status",
        )


def _check_tutor_free(tutor: Tutor, starts_at: datetime, *, session_id: int | None) -> None:
    clash = Session.objects.filter(tutor=tutor, starts_at=starts_at).exclude(status=SessionStatus.CANCELLED)
    if session_id is not None:
        clash = clash.exclude(pk=session_id)
    if clash.exists():
        raise _clash(tutor)


def _clash(tutor: Tutor | None) -> SessionChangeRefused:
    who = tutor or "The tutor"
    return SessionChangeRefused(f"{who} already has a session starting at this time.", field="starts_at")


def change_capacity(session: Session, *, capacity: int, actor: Any = None) -> Session:
    """Set the number of seats; never below the seats already taken.

    One conditional UPDATE: a booking taking a seat while staff lower the capacity either lands
    first (and the change is refused with the new count) or finds the smaller capacity.
    """
    _check_capacity(capacity, taken=0)
    with transaction.atomic():
        if not Session.objects.filter(pk=session.pk, seats_taken__lte=capacity).update(capacity=capacity):
            taken = Session.objects.values_list("seats_taken", flat=True).get(pk=session.pk)
            raise SessionChangeRefused(_below_seats_taken(taken), field="capacity")
        session.capacity = capacity
        session.seats_taken = Session.objects.values_list("seats_taken", flat=True).get(pk=session.pk)
        publish_slot(session.pk)
    return session


def close_session(session: Session, *, actor: Any = None) -> Session:
    """Stop new bookings; existing bookings keep their seats."""
    with transaction.atomic():
        _set_status(session, to=SessionStatus.CLOSED)
        publish_slot(session.pk)
    return session


def reopen_session(session: Session, *, actor: Any = None) -> Session:
    _check_reopenable(session, ends_at=session.ends_at)
    with transaction.atomic():
        _set_status(session, to=SessionStatus.OPEN)
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
        _set_status(session, to=SessionStatus.CANCELLED)
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


def _set_status(session: Session, *, to: str) -> Session:
    allowed, verb = STATUS_CHANGES[to]
    # Compare-and-set, like a booking's status: two staff members acting at once cannot both win.
    if not Session.objects.filter(pk=session.pk, status__in=allowed).update(status=to):
        current = Session.objects.values_list("status", flat=True).get(pk=session.pk)
        raise InvalidTransition(f"{session} is {SessionStatus(current).label.lower()}: it cannot be {verb}.")
    session.status = to
    return session
