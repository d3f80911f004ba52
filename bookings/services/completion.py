"""Completing the bookings of sessions that have ended and closing those sessions, set-based.

The hourly task calls ``auto_complete``. It does what ``complete()`` does to each booking (the
same compare-and-set from confirmed, seat released, reminders cancelled, a ``booking.completed``
history row and event) but a batch at a time: a few statements per thousand bookings instead of a
transaction per booking.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from bookings.models import Booking, BookingEvent, BookingStatus, Session, SessionStatus
from bookings.reports import bump_dashboard_version
from bookings.services._common import booking_payload, slot_data
from bookings.services.reminders import cancel_pending_reminders
from realtime.events import Event, publish_many, session_group, staff_group, tutor_group

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

    Each batch is one transaction. Bookings move only if the database still has them confirmed
    (``UPDATE ... WHERE status = confirmed``), so a second run, a second cluster or a member of
    staff marking a no-show at the same instant never completes a booking twice or frees a seat
    twice; on PostgreSQL concurrent runs split the rows with ``SKIP LOCKED``.
    """
    now = now or timezone.now()
    completed = 0
    while True:
        with transaction.atomic():
            rows = _complete_batch(now, batch_size)
            if rows:
                _release(rows)
                cancel_pending_reminders([booking_id for booking_id, _ in rows])
                _record(rows, now)
                _publish_completed([booking_id for booking_id, _ in rows], {session_id for _, session_id in rows})
                bump_dashboard_version()
        completed += len(rows)
        if len(rows) < batch_size:
            break
    with transaction.atomic():
        closed = _close_ended_sessions(now)
        if closed:
            publish_many(
                [
                    (
                        "slot.updated",
                        slot_data(pk, capacity=cap, seats_taken=taken, status=status),
                        _slot_groups(pk),
                        [],
                    )
                    for pk, cap, taken, status in closed
                ]
            )
            bump_dashboard_version()
    return CompletionReport(completed=completed, sessions_closed=len(closed))


def _complete_batch(now: datetime, limit: int) -> list[tuple[int, int]]:
    booking = connection.ops.quote_name(Booking._meta.db_table)
    session = connection.ops.quote_name(Session._meta.db_table)
    lock = " FOR UPDATE OF b SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = (
        f"UPDATE {booking} SET status = %s, updated_at = %s WHERE status = %s AND id IN ("
        f"SELECT b.id FROM {booking} b JOIN {session} s ON s.id = b.session_id "
        f"WHERE b.status = %s AND s.ends_at <= %s ORDER BY b.id LIMIT %s{lock}"
        f") RETURNING id, session_id"
    )
    params = [BookingStatus.COMPLETED, now, BookingStatus.CONFIRMED, BookingStatus.CONFIRMED, now, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _release(rows: list[tuple[int, int]]) -> None:
    by_count: dict[int, list[int]] = defaultdict(list)
    for session_id, count in Counter(session_id for _, session_id in rows).items():
        by_count[count].append(session_id)
    # One UPDATE per distinct count (usually one or two), not one per session.
    for count, session_ids in by_count.items():
        Session.objects.filter(pk__in=session_ids).update(seats_taken=F("seats_taken") - count)


def _record(rows: list[tuple[int, int]], now: datetime) -> None:
    BookingEvent.objects.bulk_create(
        [
            BookingEvent(booking_id=booking_id, action="booking.completed", data={"via": VIA}, created_at=now)
            for booking_id, _ in rows
        ],
        batch_size=BATCH_SIZE,
    )


def _publish_completed(booking_ids: list[int], session_ids: set[int]) -> None:
    """The events ``complete()`` would publish: one ``booking.completed`` per booking, then each slot once."""
    bookings = Booking.objects.select_related("session__product", "session__tutor", "student").filter(
        pk__in=booking_ids
    )
    events: list[Event] = []
    for booking in bookings.order_by("pk"):
        tutor_user = booking.session.tutor.user_id if booking.session.tutor_id else None
        groups = _slot_groups(booking.session_id) + ([tutor_group(tutor_user)] if tutor_user else [])
        events.append(
            ("booking.completed", booking_payload(booking, via=VIA), groups, [tutor_user] if tutor_user else [])
        )
    for row in Session.objects.filter(pk__in=session_ids).values("pk", "capacity", "seats_taken", "status"):
        pk = row.pop("pk")
        events.append(("slot.updated", slot_data(pk, **row), _slot_groups(pk), []))
    publish_many(events)


def _close_ended_sessions(now: datetime) -> list[tuple[int, int, int, str]]:
    """Open sessions that have ended stop taking bookings; returns (id, capacity, seats_taken, status)."""
    table = connection.ops.quote_name(Session._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s WHERE status = %s AND ends_at <= %s "
            "RETURNING id, capacity, seats_taken, status",
            [SessionStatus.CLOSED, SessionStatus.OPEN, now],
        )
        return cursor.fetchall()


def _slot_groups(session_id: int) -> list[str]:
    return [staff_group(), session_group(session_id)]
