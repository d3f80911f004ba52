"""Seats: the one module that changes ``Session.seats_taken``, and the ``slot.updated`` it announces.

A seat is held by pending and confirmed bookings only, and ``seats_taken`` always equals their
number (DESIGN.md). Taking seats is a conditional UPDATE (``seats_taken < capacity``, open, not
started) whose row count says whether it happened: two requests racing for the last seat cannot
both pass it, because the first writer locks the row and the second re-checks the condition after
the first commits (on SQLite the IMMEDIATE transaction serialises them). Releasing is an UPDATE by
per-session counts, done by whoever moved those bookings out of a seat-holding status in the
same transaction. Nothing else writes the column (``Session.save`` leaves it out).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce

from bookings.errors import SessionFull
from bookings.models import SEAT_HOLDING, Booking, Session, SessionStatus
from bookings.reports import bump_dashboard_version
from bookings.selectors import seats_text
from bookings.services import sql
from realtime.events import publish, publish_many, session_group, staff_group

# Sessions per conditional UPDATE of ``take_seats`` (each costs a few parameters).
SEAT_BATCH = 500

Slot = dict[str, Any]  # the ``slot.updated`` payload


def slot_data(session_id: int, *, capacity: int, seats_taken: int, status: str) -> Slot:
    """The ``slot.updated`` payload; ``seats_text`` is the seats in the back office's words."""
    return {
        "session": session_id,
        "capacity": capacity,
        "seats_taken": seats_taken,
        "seats_left": max(capacity - seats_taken, 0),
        "status": status,
        "seats_text": seats_text(status=status, capacity=capacity, seats_taken=seats_taken),
    }


def slots(session_ids: Iterable[int]) -> list[Slot]:
    """The current ``slot.updated`` payloads of these sessions, in id order: one query."""
    rows = Session.objects.filter(pk__in=list(session_ids)).order_by("pk")
    return [
        slot_data(pk, capacity=capacity, seats_taken=taken, status=status)
        for pk, capacity, taken, status in rows.values_list("pk", "capacity", "seats_taken", "status")
    ]


def slot_payload(session_id: int) -> Slot:
    row = Session.objects.values("capacity", "seats_taken", "status").get(pk=session_id)
    return slot_data(session_id, **row)


def can_take(now: datetime, wanted: Any = 1) -> Q:
    """Sessions that can take ``wanted`` more seats now: open, not started, room left. The rule of
    ``take_seats``, and of ``sql.take_seat``'s statement (its test checks the two agree)."""
    return Q(status=SessionStatus.OPEN, starts_at__gt=now, seats_taken__lte=F("capacity") - wanted)


def take_seat(session_id: int, *, now: datetime) -> Slot | None:
    """Take one seat if the session is open, not started and not full; its new counts, else None.

    The conditional UPDATE is the guard against overselling (see the module doc), and it returns
    the new counts in the same statement (``sql.take_seat``: the row lock it takes is held to
    COMMIT, and every booker of the session waits on it).
    """
    taken = sql.take_seat(session_id, now=now)
    if taken is None:
        return None
    capacity, seats_taken, status = taken
    return slot_data(session_id, capacity=capacity, seats_taken=seats_taken, status=status)


class _Short(Exception):
    """A batch of ``take_seats`` could not take every seat it wanted."""


def take_seats(wanted: Mapping[int, int], *, now: datetime) -> list[Slot]:
    """Take ``n`` seats in each session ``{session id: n}``, or raise SessionFull taking none.

    One conditional UPDATE per batch of sessions: each row is re-checked under its row lock (open,
    not started, ``seats_taken + n <= capacity``), so a concurrent booker cannot push a session
    over capacity whichever commits first. Returns the ``slot.updated`` payloads.
    """
    result: list[Slot] = []
    # Sorted ids: two imports locking overlapping sessions take the locks in the same order.
    items = sorted((pk, n) for pk, n in wanted.items() if n)
    for start in range(0, len(items), SEAT_BATCH):
        batch = items[start : start + SEAT_BATCH]
        ids = [pk for pk, _ in batch]
        count = Case(*[When(pk=pk, then=Value(n)) for pk, n in batch], output_field=IntegerField())
        try:
            with transaction.atomic():  # a savepoint: a batch that falls short takes nothing
                updated = Session.objects.filter(can_take(now, count), pk__in=ids).update(
                    seats_taken=F("seats_taken") + count
                )
                if updated != len(batch):
                    raise _Short
        except _Short:
            short = Session.objects.filter(pk__in=ids).exclude(can_take(now, count)).order_by("pk")
            session = short.select_related("product", "tutor__user").first() or Session.objects.get(pk=ids[0])
            raise SessionFull(
                f"{session} has {session.seats_left} seat(s) left: it cannot take {wanted[session.pk]} more."
            ) from None
        result += slots(ids)
    return result


def release_seats(counts: Mapping[int, int]) -> None:
    """Give back ``n`` seats in each session ``{session id: n}``: bookings that stopped holding one.

    The caller moved those bookings out of pending/confirmed with a compare-and-set in this same
    transaction, so each seat is released exactly once. One UPDATE per distinct count (usually one
    or two), not one per session.
    """
    by_count: dict[int, list[int]] = defaultdict(list)
    for session_id, n in counts.items():
        if n:
            by_count[n].append(session_id)
    for n, session_ids in by_count.items():
        Session.objects.filter(pk__in=session_ids).update(seats_taken=F("seats_taken") - n)


def release_seat(session_id: int) -> None:
    release_seats({session_id: 1})


def recount(session_ids: Sequence[int]) -> None:
    """Set ``seats_taken`` to the number of seat-holding bookings: for bookings written as history
    (``seed_demo``'s past sessions), which no service could have booked."""
    holding = (
        Booking.objects.filter(session=OuterRef("pk"), status__in=SEAT_HOLDING)
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    Session.objects.filter(pk__in=list(session_ids)).update(seats_taken=Coalesce(Subquery(holding), 0))


def slot_groups(session_id: int) -> list[str]:
    """Who hears of a session's seats: the staff, and whoever watches the session."""
    return [staff_group(), session_group(session_id)]


def publish_slot(session_id: int, payload: Slot | None = None, *, bump: bool = True) -> None:
    """Publish the session's seat counts. ``bump=False`` when this transaction already bumped the
    dashboard version (one cache write per commit is enough)."""
    if bump:
        bump_dashboard_version()
    publish("slot.updated", payload or slot_payload(session_id), groups=slot_groups(session_id))


def publish_slots(payloads: Sequence[Slot]) -> None:
    """One ``slot.updated`` per session, published together (imports, sweeps)."""
    if not payloads:
        return
    bump_dashboard_version()
    publish_many([("slot.updated", slot, slot_groups(slot["session"]), ()) for slot in payloads])
