"""Completing the bookings of sessions that have ended and closing those sessions, set-based.

The hourly task calls ``auto_complete``. Each batch is the state machine's completion
(``state_machine.COMPLETE``, the move ``complete()`` makes for one booking) applied to many rows:
the same compare-and-set from confirmed, seat released, reminders cancelled, ``booking.completed``
history row and event -- a few statements per thousand bookings instead of a transaction each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from bookings.models import Booking, BookingStatus, Session, SessionAction, SessionStatus
from bookings.services import seats, state_machine
from bookings.services import session_history as history
from bookings.services.transitions import finish_bookings

BATCH_SIZE = 1000
VIA = "system"


@dataclass(frozen=True)
class CompletionReport:
    """What one ``auto_complete`` run changed."""

    completed: int = 0
    sessions_closed: int = 0

    def __str__(self) -> str:
        return f"{self.completed} bookings completed, {self.sessions_closed} sessions closed"


def auto_complete(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> CompletionReport:
    """Complete every confirmed booking whose session has ended, then close every ended open session.

    Each batch is one transaction. The batch's rows are taken with their row locks (``SKIP
    LOCKED``: concurrent runs on PostgreSQL split the rows) and moved only if still confirmed, so a
    second run, a second cluster or a member of staff marking a no-show at the same instant never
    completes a booking twice or frees a seat twice.
    """
    now = now or timezone.now()
    completed = 0
    while True:
        with transaction.atomic():
            ended = Booking.objects.filter(status=BookingStatus.CONFIRMED, session__ends_at__lte=now)
            locked = ended.select_for_update(skip_locked=True, of=("self",)).order_by("pk")
            moved = finish_bookings(locked, state_machine.COMPLETE, actor=None, now=now, limit=batch_size, via=VIA)
        completed += len(moved)
        if len(moved) < batch_size:
            break
    with transaction.atomic():
        closed = _close_ended_sessions(now)
        seats.publish_slots(seats.slots(closed))
    return CompletionReport(completed=completed, sessions_closed=len(closed))


def _close_ended_sessions(now: datetime) -> list[int]:
    """Open sessions that have ended stop taking bookings, each with a ``session.closed`` history row;
    returns their ids."""
    ended = Session.objects.filter(status=SessionStatus.OPEN, ends_at__lte=now)
    # Locked as they are read, skipping any a concurrent run holds: each is closed (and announced) once.
    ids = list(ended.select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True))
    Session.objects.filter(pk__in=ids).update(status=SessionStatus.CLOSED)
    # The same "closed to new bookings" a person's close records, by the system, saying why.
    data = {"via": VIA, "reason": "ended"}
    history.write(history.event(pk, SessionAction.CLOSED, actor=None, data=data, now=now) for pk in ids)
    return ids
