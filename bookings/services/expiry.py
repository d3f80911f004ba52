"""Expiring unpaid bookings, set-based."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from bookings.models import Booking, BookingEvent, BookingStatus, CancelReason, Session
from bookings.services._common import slot_data
from bookings.services.reminders import cancel_pending_reminders
from realtime.events import publish_many, session_group, staff_group, tutor_group

BATCH_SIZE = 2000


def expire_due(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Cancel every pending booking whose payment deadline has passed; returns how many.

    Works in batches, each one transaction of a few statements: flip the statuses with
    ``UPDATE ... RETURNING``, release exactly the seats of the rows that statement changed, write
    their history in bulk. Because seats are released only for rows this transaction itself moved
    from pending, a payment confirming a booking at the same instant either wins (the row is no
    longer pending, so it is neither returned nor released) or loses (the booking is expired and
    its seat freed). Two sweepers at once on PostgreSQL split the rows with ``SKIP LOCKED``.
    """
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            rows = _flip_batch(now, batch_size)
            if not rows:
                break
            _release(rows)
            _record(rows, now)
            cancel_pending_reminders([row[0] for row in rows])
            _publish(rows)
        total += len(rows)
        if len(rows) < batch_size:
            break
    return total


def _flip_batch(now: datetime, limit: int) -> list[tuple[int, int, str]]:
    table = connection.ops.quote_name(Booking._meta.db_table)
    # SKIP LOCKED lets a second sweeper take other rows instead of queueing behind this one;
    # SQLite has no row locks, but its IMMEDIATE transactions already serialise writers.
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = (
        f"UPDATE {table} SET status = %s, cancel_reason = %s, cancelled_at = %s, updated_at = %s "
        f"WHERE status = %s AND id IN ("
        f"SELECT id FROM {table} WHERE status = %s AND expires_at <= %s ORDER BY expires_at LIMIT %s{lock}"
        f") RETURNING id, session_id, reference"
    )
    params = [
        BookingStatus.CANCELLED,
        CancelReason.EXPIRED,
        now,
        now,
        BookingStatus.PENDING,
        BookingStatus.PENDING,
        now,
        limit,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _release(rows: list[tuple[int, int, str]]) -> None:
    per_session = Counter(session_id for _, session_id, _ in rows)
    by_count: dict[int, list[int]] = defaultdict(list)
    for session_id, count in per_session.items():
        by_count[count].append(session_id)
    # One UPDATE per distinct count (usually one or two), not one per session.
    for count, session_ids in by_count.items():
        Session.objects.filter(pk__in=session_ids).update(seats_taken=F("seats_taken") - count)


def _record(rows: list[tuple[int, int, str]], now: datetime) -> None:
    BookingEvent.objects.bulk_create(
        [
            BookingEvent(
                booking_id=booking_id,
                action="booking.expired",
                data={"reason": CancelReason.EXPIRED},
                created_at=now,
            )
            for booking_id, _, _ in rows
        ],
        batch_size=1000,
    )


def _publish(rows: list[tuple[int, int, str]]) -> None:
    session_ids = {session_id for _, session_id, _ in rows}
    sessions = {
        row["pk"]: row
        for row in Session.objects.filter(pk__in=session_ids).values(
            "pk", "capacity", "seats_taken", "status", "tutor__user_id", "product__name"
        )
    }
    events = []
    for booking_id, session_id, reference in rows:
        session = sessions[session_id]
        tutor_user = session["tutor__user_id"]
        groups = [staff_group()] + ([tutor_group(tutor_user)] if tutor_user else [])
        data = {
            "booking": booking_id,
            "reference": reference,
            "status": BookingStatus.CANCELLED,
            "reason": CancelReason.EXPIRED,
            "session": session_id,
            "summary": f"{reference} · {session['product__name']}: not paid in time",
        }
        events.append(("booking.expired", data, groups, [tutor_user] if tutor_user else []))
    for session_id, session in sessions.items():
        slot = slot_data(
            session_id, capacity=session["capacity"], seats_taken=session["seats_taken"], status=session["status"]
        )
        events.append(("slot.updated", slot, [staff_group(), session_group(session_id)], []))
    publish_many(events)
