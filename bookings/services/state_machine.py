"""The booking state machine: each transition of existing bookings has one core, ``move()``, that
works on a set of rows.

The single-row services (``confirm``, ``cancel``, ``complete``, ``mark_no_show`` in
``bookings.services.transitions``) call it with one booking; the expiry sweep
(``bookings.services.expiry``), auto-completion (``bookings.services.completion``), a session's
cancellation and an import of results call it with many. Whoever calls, a move does the same
things in the same order, inside the caller's transaction:

1. compare-and-set the status (``UPDATE ... WHERE status IN (allowed)``) and append one history
   row per booking moved, with the transition's action: of two writers racing for the same
   booking -- a payment and the sweep, two desks -- exactly one moves it;
2. release the seats of bookings that stop holding one (``bookings.services.seats``);
3. cancel the reminders that no longer apply (and schedule the start reminders of a confirmation);
4. publish one event per booking (the same payload, ``_common.payload``, for one row or a hundred
   thousand) and one ``slot.updated`` per session whose seats changed -- delivered after commit.

Step 1 is one statement on PostgreSQL (``bookings.services.sql.flip_and_record``, with the figure
that put it there) and three ORM statements elsewhere (``orm_flip_and_record``); tests/bookings/
test_sql.py shows both write the same. Which moves a booking allows, given the clock, is the model's to say
(``Booking.can_confirm`` ...); the services check that first, and the compare-and-set settles races.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence, Set
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import QuerySet

from backoffice.models import User
from bookings.errors import InvalidTransition
from bookings.models import SEAT_HOLDING, Booking, BookingAction, BookingEvent, BookingStatus, CancelReason
from bookings.reports import bump_dashboard_version
from bookings.selectors import app_users
from bookings.services import seats, sql
from bookings.services._common import groups_of, known_actor, payload, recipients_of, refusal
from bookings.services.reminders import (
    Attendance,
    cancel_payment_reminders,
    cancel_pending_reminders,
    start_reminders,
)
from bookings.services.writes import insert
from realtime.events import Event, GroupEvent, publish_later, publish_many

SLOT = "slot.updated"

# What a move reads of each booking it changes, in ``Moved``'s order: not model instances, since a
# sweep moves tens of thousands (instances cost seven times the CPU of these tuples).
ROW_FIELDS = (
    "pk",
    "reference",
    "session_id",
    "student_id",
    "session__starts_at",
    "session__product__name",
    "session__product__code",
    "session__tutor__user_id",
    "student__first_name",
    "student__last_name",
    "student__phone",
    "student__email",
    "student__username",
)


@dataclass(frozen=True)
class Transition:
    """One arrow of the state machine (DESIGN.md): from which statuses, to which, recorded as what."""

    action: BookingAction  # the history row's action and the event's type
    allowed: tuple[str, ...]
    to: BookingStatus

    @property
    def frees_seat(self) -> bool:
        return self.to not in SEAT_HOLDING

    @property
    def confirms(self) -> bool:
        return self.to == BookingStatus.CONFIRMED

    def changes(self, now: datetime, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The columns a move writes: the status, the time, a confirmation's or a cancellation's own."""
        extra = {"confirmed_at": now, "expires_at": None} if self.confirms else {}
        return {"status": self.to, "updated_at": now, **extra, **(fields or {})}


PENDING, CONFIRMED = (BookingStatus.PENDING,), (BookingStatus.CONFIRMED,)
CONFIRM = Transition(BookingAction.CONFIRMED, PENDING, BookingStatus.CONFIRMED)
CANCEL = Transition(BookingAction.CANCELLED, SEAT_HOLDING, BookingStatus.CANCELLED)
EXPIRE = Transition(BookingAction.EXPIRED, PENDING, BookingStatus.CANCELLED)
COMPLETE = Transition(BookingAction.COMPLETED, CONFIRMED, BookingStatus.COMPLETED)
NO_SHOW = Transition(BookingAction.NO_SHOW, CONFIRMED, BookingStatus.NO_SHOW)


def cancellation(reason: str) -> Transition:
    """Expiry is a cancellation recorded (and announced) as ``booking.expired``."""
    return EXPIRE if reason == CancelReason.EXPIRED else CANCEL


class Moved(NamedTuple):
    """A booking a move changed, as its events need it (``ROW_FIELDS``); a plain tuple, as a sweep
    makes tens of thousands."""

    pk: int
    reference: str
    session_id: int
    student_id: int
    starts_at: datetime
    product: str
    product_code: str
    tutor_user_id: int | None
    first_name: str
    last_name: str
    phone: str
    email: str
    username: str

    @property
    def student(self) -> str:
        """The student as ``str(user)`` names them (made only when an event is built)."""
        names = {"first_name": self.first_name, "last_name": self.last_name, "phone": self.phone}
        return str(User(**names, email=self.email, username=self.username))

    def payload(self, status: str, **extra: Any) -> dict[str, Any]:
        return payload(
            booking_id=self.pk,
            reference=self.reference,
            status=status,
            session_id=self.session_id,
            starts_at=self.starts_at,
            product=self.product,
            student=self.student,
            **extra,
        )

    def groups(self) -> list[str]:
        return groups_of(self.session_id, self.tutor_user_id, self.student_id)

    def attendance(self) -> Attendance:
        """What its start reminders are made of (``reminders.start_reminders``): a confirmation's
        reminders need no second read of the booking."""
        return Attendance(
            booking_id=self.pk,
            student_id=self.student_id,
            email=self.email,
            phone=self.phone,
            tutor_user_id=self.tutor_user_id,
            starts_at=self.starts_at,
            product_code=self.product_code,
        )

    def recipients(self, app_users: Set[int]) -> list[int]:
        return recipients_of(self.tutor_user_id, self.student_id, app_users=app_users)


def move(
    transition: Transition,
    targets: QuerySet[Booking] | Sequence[int],
    *,
    now: datetime,
    limit: int | None = None,
    expect: int | None = None,
    actor: User | None = None,
    fields: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    announce: Mapping[str, Any] | None = None,
    publish: bool = True,
) -> list[Moved]:
    """Move the bookings of ``targets`` (the first ``limit``) that are in an allowed status along
    ``transition`` (see the module doc); returns them.

    ``targets`` may lock its rows (``select_for_update``): the sweeps' way to split rows between
    concurrent runs. Or it is the ids of bookings the caller has read (and locked). ``expect``: how
    many must move, or InvalidTransition is raised and none is.
    ``fields``: what the move sets besides the status (a cancellation's reason and time).
    ``data``: the history row's data; ``announce``: the events' extra keys (``data`` unless given).
    ``publish=False`` leaves the events to the caller (a reschedule announces its own).
    """
    changes = transition.changes(now, fields)
    data = dict(data or {})
    # A savepoint when several must move: all of them or none. (One that cannot move writes nothing.)
    with transaction.atomic() if expect is not None and expect > 1 else nullcontext():
        flip = Flip(transition, limit=limit, changes=changes, actor=known_actor(actor), data=data, now=now)
        moved = flip_and_record(flip, targets)
        if expect is not None and len(moved) != expect:
            raise _refusal(transition, targets, expect=expect, moved=len(moved))
    if not moved:
        return moved
    ids = [row.pk for row in moved]
    if transition.frees_seat:
        seats.release_seats(Counter(row.session_id for row in moved))
    if transition.confirms:
        cancel_payment_reminders(ids)
        insert([r for row in moved for r in start_reminders(row.attendance(), now=now)])
    else:
        cancel_pending_reminders(_moved_now(transition, ids, now) if len(ids) > 1 else ids)
    if publish:
        announce_moves(transition, moved, announce=data if announce is None else announce)
    return moved


def _moved_now(transition: Transition, ids: Sequence[int], now: datetime) -> QuerySet[Booking]:
    """The bookings moved to ``transition.to`` at ``now`` within these ids' range, as a subquery:
    ours, and perhaps another run's with the same clock -- whose reminders are as finished."""
    return Booking.objects.filter(pk__range=(min(ids), max(ids)), status=transition.to, updated_at=now)


def _refusal(
    transition: Transition, targets: QuerySet[Booking] | Sequence[int], *, expect: int, moved: int
) -> InvalidTransition:
    if expect == 1:  # "Booking X7K2M9P is cancelled: it cannot be confirmed."
        return refusal(_as_query(targets).only("reference", "status").get(), transition.to)
    return InvalidTransition(f"{expect - moved} of {expect} bookings changed status meanwhile.")


@dataclass(frozen=True)
class Flip:
    """Step 1 of a move, as ``flip_and_record`` takes it: which arrow, how many rows at most, the
    columns to write, and the history row's actor, data and time."""

    transition: Transition
    limit: int | None
    changes: Mapping[str, Any]
    actor: User | None
    data: Mapping[str, Any]
    now: datetime


def flip_and_record(flip: Flip, targets: QuerySet[Booking] | Sequence[int]) -> list[Moved]:
    """Step 1 of a move: the compare-and-set and the history rows, for the targets still allowed.
    One statement on PostgreSQL (``sql.flip_and_record``), the ORM's three elsewhere."""
    if connection.vendor != "postgresql":
        return orm_flip_and_record(flip, _as_query(targets))
    if not isinstance(targets, QuerySet):
        chosen: QuerySet | Sequence[int] = list(targets)[: flip.limit]
    else:
        chosen = targets.values("pk")[: flip.limit] if flip.limit is not None else targets.values("pk")
    rows = sql.flip_and_record(
        chosen,
        allowed=flip.transition.allowed,
        changes=flip.changes,
        history=(str(flip.transition.action), flip.actor.pk if flip.actor is not None else None, flip.data, flip.now),
    )
    return [Moved(*row) for row in rows]


def _as_query(targets: QuerySet[Booking] | Sequence[int]) -> QuerySet[Booking]:
    return targets if isinstance(targets, QuerySet) else Booking.objects.filter(pk__in=list(targets))


def orm_flip_and_record(flip: Flip, targets: QuerySet[Booking]) -> list[Moved]:
    """``flip_and_record`` in plain ORM: read (and lock, if ``targets`` does) the rows, UPDATE them by
    id with the compare-and-set, ``bulk_create`` their history."""
    query = targets.filter(status__in=flip.transition.allowed).values_list(*ROW_FIELDS)
    rows = list(query[: flip.limit] if flip.limit is not None else query)
    ids = [row[0] for row in rows]
    if ids:
        # Read under the rows' locks (PostgreSQL) or in an IMMEDIATE transaction (SQLite), so all move.
        flipped = Booking.objects.filter(pk__in=ids, status__in=flip.transition.allowed).update(**flip.changes)
        if flipped != len(ids):
            raise InvalidTransition("A booking changed status while it was being moved.")
        BookingEvent.objects.bulk_create(
            BookingEvent(
                booking_id=pk, action=flip.transition.action, actor=flip.actor, data=flip.data, created_at=flip.now
            )
            for pk in ids
        )
    return [Moved(*row) for row in rows]


def announce_moves(transition: Transition, moved: Sequence[Moved], *, announce: Mapping[str, Any]) -> None:
    """The events of a move: one per booking, then the seats of each session whose seats it freed.

    A booking event is kept as a notification of its tutor, if any, and of its student if they use
    the app (``selectors.app_users``): those are stored in this transaction, one bulk insert for the
    batch (``publish_many``). The others -- most of a sweep's 25,000 -- store nothing, so their
    envelopes are built after commit (``publish_later``), and not at all by a process nobody
    listens to: building them inside took 12.8 s of a 100,000-booking sweep's 24.5 s
    (bench/expiry_sweep.py). Same payloads either way.
    """
    bump_dashboard_version()
    action, status = str(transition.action), str(transition.to)
    readers = app_users({row.student_id for row in moved})  # one query for the batch
    kept: list[tuple[Moved, list[int]]] = []
    unkept: list[Moved] = []
    for row in moved:
        if recipients := row.recipients(readers):
            kept.append((row, recipients))
        else:
            unkept.append(row)
    if unkept:
        publish_later(partial(_group_events, action, status, unkept, announce))
    events: list[Event] = [
        (action, row.payload(status, **announce), row.groups(), recipients) for row, recipients in kept
    ]
    if transition.frees_seat:
        sessions = sorted({row.session_id for row in moved})
        events += [(SLOT, slot, seats.slot_groups(slot["session"]), ()) for slot in seats.slots(sessions)]
    publish_many(events)


def _group_events(action: str, status: str, moved: Sequence[Moved], announce: Mapping[str, Any]) -> list[GroupEvent]:
    return [(action, row.payload(status, **announce), row.groups()) for row in moved]
