"""Expiring unpaid bookings, set-based."""

from __future__ import annotations

import gc
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from bookings.models import (
    Booking,
    BookingEvent,
    BookingStatus,
    CancelReason,
    Payment,
    PaymentStatus,
    Reminder,
    ReminderStatus,
    Session,
)
from bookings.notify_expiry import send_expiry_emails
from bookings.reports import bump_dashboard_version
from bookings.services._common import slot_data
from bookings.services.reminders import cancel_pending_reminders
from realtime.events import GroupEvent, publish_later, publish_many, session_group, staff_group, tutor_group

# Rows per transaction. A payment landing on a row of the batch waits for its commit (about a
# second at this size) and then sees the booking expired. On a backlog of 100,000 (bench/
# expiry_sweep.py) batches of 10,000 took 15-25 % longer than 25,000; 50,000 and 100,000 no less.
BATCH_SIZE = 25_000

# (booking id, session id, reference, whether the student has an e-mail address)
Row = tuple[int, int, str, bool]


def _due(table: str) -> str:
    """SQL: the rows of the booking ``table`` a sweep expires (named parameters ``_due_params``).

    Pending and past the payment deadline -- unless money is in flight for the booking: a Payme
    transaction created and not yet performed (state 1) or a Click payment prepared and not yet
    completed, i.e. a pending Payment whose ``holds_until`` lies ahead (Payme's ``time`` + 12 h,
    Click's Prepare + 1 h; bookings.payments.core). Such a booking is *not expired* until then,
    rather than having its ``expires_at`` extended: the deadline the student was given stays as it
    was, and once the attempt ends (performed, cancelled, or past the provider's limit) nothing has
    to be put back -- a Payme cancel leaves the booking "pending until its own expiry" as it is, and
    the next sweep takes it if that expiry has passed. The predicate is here once, for both sweeps;
    the partial index ``payment_in_flight`` answers the NOT EXISTS from a handful of rows.
    """
    payment = connection.ops.quote_name(Payment._meta.db_table)
    return (
        f"{table}.status = %(pending)s AND {table}.expires_at <= %(now)s AND NOT EXISTS ("
        f"SELECT 1 FROM {payment} AS in_flight WHERE in_flight.booking_id = {table}.id "
        f"AND in_flight.status = %(payment_pending)s AND in_flight.holds_until > %(now)s)"
    )


def _due_params(now: datetime) -> dict[str, object]:
    return {"pending": BookingStatus.PENDING, "now": now, "payment_pending": PaymentStatus.PENDING}


def expire_due(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Cancel every pending booking whose payment deadline has passed; returns how many.

    A booking whose money is in flight (an open Payme transaction, a prepared Click payment) is
    left alone until the provider's own limit passes (``_due``).

    Works in batches, each one transaction: flip the statuses with ``UPDATE ... RETURNING``,
    release exactly the seats of the rows that statement changed, write their history and cancel
    their reminders (on PostgreSQL all in one statement). Because seats are released only for rows
    this transaction itself moved from pending, a payment confirming a booking at the same instant
    either wins (the row is no longer pending, so it is neither returned nor released) or loses
    (the booking is expired and its seat freed). Two sweepers at once on PostgreSQL split the rows
    with ``SKIP LOCKED``.
    After each batch commits, the students of its bookings get an e-mail (``bookings.notify_expiry``).
    """
    now = now or timezone.now()
    sweep = _sweep_postgresql if connection.vendor == "postgresql" else _sweep_portable
    total = 0
    while True:
        with transaction.atomic():
            rows = sweep(now, batch_size)
            if not rows:
                break
            with _collector_paused():
                _publish(rows)
            bump_dashboard_version()
            # Only the rows this batch flipped: a second sweep, or a second cluster, mails nobody twice.
            if to_mail := [booking_id for booking_id, _, _, has_email in rows if has_email]:
                transaction.on_commit(partial(send_expiry_emails, to_mail))
        total += len(rows)
        if len(rows) < batch_size:
            break
    return total


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch's events are built.

    An event per expired booking means several small dicts and tuples each, all kept until the
    commit: every 700 of them set off a collection that walks the young objects, and the growing
    heap sets off full collections too -- more than half the cost of building 10,000 events. They
    hold no reference cycles, so nothing is lost by collecting after the batch instead.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _sweep_portable(now: datetime, limit: int) -> list[Row]:
    """Flip, release, record: a few statements, serialised by SQLite's IMMEDIATE transaction."""
    rows = _flip_batch(now, limit)
    if rows:
        _release(rows)
        _record(rows, now)
        cancel_pending_reminders([row[0] for row in rows])
    return rows


def _sweep_postgresql(now: datetime, limit: int) -> list[Row]:
    """The whole batch in one statement: flip the due rows (skipping rows another transaction holds),
    then -- from exactly the rows flipped -- release their seats, write their history and cancel
    their reminders. One round trip, and no window between the flip and the release.

    The due rows are taken as they come, not ``ORDER BY expires_at``: every due row is expired by
    this run anyway, and the ordered walk of the (status, expires_at) index visited the table in
    deadline order instead of as stored (a fifth of the sweep's time on 100,000 due bookings). The
    flip finds them by primary key (``= ANY``) rather than joining ``due``, which PostgreSQL ran as
    a hash of every pending booking, once per batch.
    """
    booking = connection.ops.quote_name(Booking._meta.db_table)
    session = connection.ops.quote_name(Session._meta.db_table)
    event = connection.ops.quote_name(BookingEvent._meta.db_table)
    reminder = connection.ops.quote_name(Reminder._meta.db_table)
    user = connection.ops.quote_name(get_user_model()._meta.db_table)
    sql = f"""
        WITH due AS (
            SELECT id FROM {booking}
            WHERE {_due(booking)}
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        ), expired AS (
            UPDATE {booking} AS b
            SET status = %(cancelled)s, cancel_reason = %(expired)s, cancelled_at = %(now)s, updated_at = %(now)s
            WHERE b.id = ANY(ARRAY(SELECT id FROM due)) AND b.status = %(pending)s
            RETURNING b.id, b.session_id, b.reference, b.student_id
        ), released AS (
            UPDATE {session} AS s SET seats_taken = s.seats_taken - freed.n
            FROM (SELECT session_id, count(*) AS n FROM expired GROUP BY session_id) AS freed
            WHERE s.id = freed.session_id
        ), history AS (
            INSERT INTO {event} (booking_id, action, actor_id, data, created_at)
            SELECT id, 'booking.expired', NULL, %(data)s::jsonb, %(now)s FROM expired
        ), reminders AS (
            -- What cancel_pending_reminders() cancels: pending, or failed and waiting for a retry.
            UPDATE {reminder} SET status = %(reminder_cancelled)s, next_attempt_at = NULL
            WHERE booking_id IN (SELECT id FROM expired)
              AND (status = %(reminder_pending)s OR (status = %(reminder_failed)s AND next_attempt_at IS NOT NULL))
        )
        SELECT expired.id, expired.session_id, expired.reference, u.email <> ''
        FROM expired JOIN {user} AS u ON u.id = expired.student_id
    """
    params = {
        **_due_params(now),
        "cancelled": BookingStatus.CANCELLED,
        "expired": CancelReason.EXPIRED,
        "limit": limit,
        "data": json.dumps({"reason": CancelReason.EXPIRED}),
        "reminder_cancelled": ReminderStatus.CANCELLED,
        "reminder_pending": ReminderStatus.PENDING,
        "reminder_failed": ReminderStatus.FAILED,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _flip_batch(now: datetime, limit: int) -> list[Row]:
    table = connection.ops.quote_name(Booking._meta.db_table)
    user = connection.ops.quote_name(get_user_model()._meta.db_table)
    # SKIP LOCKED lets a second sweeper take other rows instead of queueing behind this one;
    # SQLite has no row locks, but its IMMEDIATE transactions already serialise writers.
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = (
        f"UPDATE {table} SET status = %(cancelled)s, cancel_reason = %(expired)s, cancelled_at = %(now)s, "
        f"updated_at = %(now)s WHERE status = %(pending)s AND id IN ("
        f"SELECT id FROM {table} WHERE {_due(table)} ORDER BY expires_at LIMIT %(limit)s{lock}"
        f") RETURNING id, session_id, reference, (SELECT email <> '' FROM {user} WHERE {user}.id = student_id)"
    )
    params = {**_due_params(now), "cancelled": BookingStatus.CANCELLED, "expired": CancelReason.EXPIRED, "limit": limit}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            (booking_id, session_id, reference, bool(has_email))
            for booking_id, session_id, reference, has_email in cursor.fetchall()
        ]


def _release(rows: list[Row]) -> None:
    per_session = Counter(row[1] for row in rows)
    by_count: dict[int, list[int]] = defaultdict(list)
    for session_id, count in per_session.items():
        by_count[count].append(session_id)
    # One UPDATE per distinct count (usually one or two), not one per session.
    for count, session_ids in by_count.items():
        Session.objects.filter(pk__in=session_ids).update(seats_taken=F("seats_taken") - count)


def _record(rows: list[Row], now: datetime) -> None:
    BookingEvent.objects.bulk_create(
        [
            BookingEvent(
                booking_id=booking_id,
                action="booking.expired",
                data={"reason": CancelReason.EXPIRED},
                created_at=now,
            )
            for booking_id, *_ in rows
        ],
        batch_size=1000,
    )


def _publish(rows: list[Row]) -> None:
    """A ``booking.expired`` per booking and a ``slot.updated`` per session.

    A session's tutor gets each of its expiries as a notification, stored in this transaction
    (``publish_many``). Expiries of sessions without a tutor store nothing and go to the staff and
    session groups only: those envelopes are built after commit (``publish_later``), the bulk of
    a large sweep (mock exam sittings with 30 seats and no tutor).
    """
    sessions = {
        row["pk"]: row
        for row in Session.objects.filter(pk__in={row[1] for row in rows}).values(
            "pk", "capacity", "seats_taken", "status", "tutor__user_id", "product__name"
        )
    }
    # What every booking of a session shares, worked out once per session rather than per booking.
    audience = {
        session_id: (
            [staff_group(), tutor_group(tutor)] if (tutor := session["tutor__user_id"]) else [staff_group()],
            [tutor] if tutor else [],
            f" · {session['product__name']}: not paid in time",
        )
        for session_id, session in sessions.items()
    }
    untutored = [row for row in rows if not audience[row[1]][1]]
    if untutored:
        publish_later(partial(_expired_events, untutored, audience))
    events = [
        (type, data, groups, audience[data["session"]][1])
        for type, data, groups in _expired_events([row for row in rows if audience[row[1]][1]], audience)
    ]
    for session_id, session in sessions.items():
        slot = slot_data(
            session_id, capacity=session["capacity"], seats_taken=session["seats_taken"], status=session["status"]
        )
        events.append(("slot.updated", slot, [staff_group(), session_group(session_id)], []))
    publish_many(events)


def _expired_events(rows: list[Row], audience: dict[int, tuple[list[str], list[int], str]]) -> list[GroupEvent]:
    events = []
    for booking_id, session_id, reference, _ in rows:
        groups, _, summary = audience[session_id]
        data = {
            "booking": booking_id,
            "reference": reference,
            "status": BookingStatus.CANCELLED,
            "reason": CancelReason.EXPIRED,
            "session": session_id,
            "summary": reference + summary,
        }
        events.append(("booking.expired", data, groups))
    return events
