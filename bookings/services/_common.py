"""Shared pieces of the booking services: seat counting, guarded status changes, history, events.

Private to ``bookings.services``; everything else calls the public service functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, connections
from django.db.models import F, Field, Model
from django.utils import timezone

from bookings.errors import InvalidTransition
from bookings.models import Booking, BookingEvent, BookingStatus, Product, Session, SessionStatus, Tutor
from bookings.reports import bump_dashboard_version
from realtime.events import publish, session_group, staff_group, tutor_group

STATUS_VERBS = {
    BookingStatus.CONFIRMED: "confirmed",
    BookingStatus.CANCELLED: "cancelled",
    BookingStatus.COMPLETED: "completed",
    BookingStatus.NO_SHOW: "marked as a no-show",
}


def take_seat(session_id: int, *, now: datetime) -> dict[str, Any] | None:
    """Take one seat if the session is open, not started and not full; return its new counts.

    One conditional UPDATE: two requests racing for the last seat cannot both see
    ``seats_taken < capacity`` (the first writer locks the row, the second re-checks it after the
    first commits). ``RETURNING`` hands back the counts so no second read is needed while the
    row is locked. Returns None when no seat was taken.
    """
    table = connection.ops.quote_name(Session._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET seats_taken = seats_taken + 1 "
            "WHERE id = %s AND status = %s AND starts_at > %s AND seats_taken < capacity "
            "RETURNING capacity, seats_taken, status",
            [session_id, SessionStatus.OPEN, now],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    capacity, seats_taken, status = row
    return slot_data(session_id, capacity=capacity, seats_taken=seats_taken, status=status)


def read_session(session_id: int) -> Session:
    """The session with its product and tutor: what ``book()`` decides on, in one SELECT.

    The same instances ``Session.objects.select_related("product", "tutor").get(pk=...)`` returns
    (every concrete field, the column converters applied, the relations cached), but the statement
    is built once per process: every booker of a popular session runs this read, and compiling the
    ORM query cost more CPU than PostgreSQL spent answering it (about 0.8 of 1 ms per booking).
    """
    sql, parts = _session_read(connection.alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, [session_id])
        row = cursor.fetchone()
    if row is None:
        raise Session.DoesNotExist(f"No session with id {session_id}.")
    session, product, tutor = (_instance(connection, part, row) for part in parts)
    Session.product.field.set_cached_value(session, product)
    Session.tutor.field.set_cached_value(session, tutor)
    return session


@dataclass(frozen=True)
class _Part:
    """One model's slice of a joined row: where it is, and per column the expression and its converters."""

    model: type[Model]
    start: int
    stop: int
    attnames: tuple[str, ...]
    pk_index: int
    converters: tuple[tuple[Any, tuple[Callable[[Any, Any, Any], Any], ...]], ...]


@cache
def _session_read(alias: str) -> tuple[str, tuple[_Part, ...]]:
    db = connections[alias]
    quote = db.ops.quote_name
    columns: list[str] = []
    parts: list[_Part] = []
    for table_alias, model in (("s", Session), ("p", Product), ("t", Tutor)):
        fields = model._meta.concrete_fields
        start = len(columns)
        columns += [f"{table_alias}.{quote(field.column)}" for field in fields]
        cols = [field.get_col(table_alias) for field in fields]
        parts.append(
            _Part(
                model=model,
                start=start,
                stop=len(columns),
                attnames=tuple(field.attname for field in fields),
                pk_index=[field.primary_key for field in fields].index(True),
                # What the ORM's compiler applies to each column (SQLite's datetimes, decimals ...).
                converters=tuple(
                    (col, tuple(db.ops.get_db_converters(col) + col.get_db_converters(db))) for col in cols
                ),
            )
        )
    product, tutor = Session._meta.get_field("product"), Session._meta.get_field("tutor")
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(Session._meta.db_table)} s "
        f"INNER JOIN {quote(Product._meta.db_table)} p "
        f"ON p.{quote(Product._meta.pk.column)} = s.{quote(product.column)} "
        f"LEFT OUTER JOIN {quote(Tutor._meta.db_table)} t "
        f"ON t.{quote(Tutor._meta.pk.column)} = s.{quote(tutor.column)} "
        f"WHERE s.{quote(Session._meta.pk.column)} = %s"
    )
    return sql, tuple(parts)


def _instance(db: Any, part: _Part, row: Sequence[Any]) -> Any:
    """``Model.from_db`` for one model's slice of a joined row; None for a LEFT JOIN that found nothing."""
    values = list(row[part.start : part.stop])
    if values[part.pk_index] is None:
        return None
    for index, (col, functions) in enumerate(part.converters):
        for convert in functions:
            values[index] = convert(values[index], col, db)
    return part.model.from_db(db.alias, part.attnames, values)


def insert_booking(booking: Booking, history: Sequence[tuple[str, Any, dict[str, Any]]], *, now: datetime) -> None:
    """INSERT a new ``booking`` and its first history rows ``(action, actor, data)``.

    On PostgreSQL one statement (the booking INSERT feeding the history INSERT through a CTE), its
    SQL built once per process: a round trip and the ORM's per-call INSERT compilation less for
    every booking. Elsewhere ``save()`` and ``bulk_create()``. Either way the history rows share
    ``now`` and keep their order by id.
    """
    if connection.vendor != "postgresql":
        booking.save(force_insert=True)
        BookingEvent.objects.bulk_create(
            BookingEvent(booking=booking, action=action, actor=_actor(actor), data=data, created_at=now)
            for action, actor, data in history
        )
        return
    sql, booking_fields, event_fields = _booking_insert(connection.alias, len(history))
    params = [field.get_db_prep_save(field.pre_save(booking, True), connection) for field in booking_fields]
    for action, actor, data in history:
        actor = _actor(actor)
        row = (action, actor.pk if actor is not None else None, data, now)
        params += [field.get_db_prep_save(value, connection) for field, value in zip(event_fields, row, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        booking.pk = cursor.fetchone()[0]
    booking._state.adding = False
    booking._state.db = connection.alias


@cache
def _booking_insert(alias: str, events: int) -> tuple[str, tuple[Field, ...], tuple[Field, ...]]:
    db = connections[alias]
    quote = db.ops.quote_name
    booking_fields = tuple(field for field in Booking._meta.concrete_fields if not field.primary_key)
    event_fields = tuple(BookingEvent._meta.get_field(name) for name in ("action", "actor", "data", "created_at"))
    booking_table, event_table = quote(Booking._meta.db_table), quote(BookingEvent._meta.db_table)
    booking_pk, event_fk = quote(Booking._meta.pk.column), quote(BookingEvent._meta.get_field("booking").column)
    booking_columns = ", ".join(quote(field.column) for field in booking_fields)
    event_columns = ", ".join(quote(field.column) for field in event_fields)
    placeholders = ", ".join(["%s"] * len(booking_fields))
    # VALUES has no column types of its own: a NULL actor must be told it is a bigint, and so on.
    row = "(" + ", ".join(f"CAST(%s AS {field.cast_db_type(db)})" for field in event_fields) + ")"
    sql = (
        f"WITH new_booking AS (INSERT INTO {booking_table} ({booking_columns}) VALUES ({placeholders}) "
        f"RETURNING {booking_pk}) "
        f"INSERT INTO {event_table} ({event_fk}, {event_columns}) "
        f"SELECT new_booking.{booking_pk}, {event_columns} "
        f"FROM new_booking CROSS JOIN (VALUES {', '.join([row] * events)}) AS history ({event_columns}) "
        f"RETURNING {event_fk}"
    )
    return sql, booking_fields, event_fields


def release_seats(session_id: int, count: int = 1) -> None:
    Session.objects.filter(pk=session_id).update(seats_taken=F("seats_taken") - count)


def change_status(
    booking: Booking,
    *,
    allowed: Iterable[str],
    to: str,
    now: datetime | None = None,
    **fields: Any,
) -> None:
    """Move ``booking`` to ``to`` only if the database still has it in one of ``allowed``.

    A compare-and-set on the status column: a confirmation and an expiry landing at the same
    instant cannot both win, so the seat is released exactly once or kept exactly once.
    """
    allowed = tuple(allowed)
    now = now or timezone.now()
    changes = {"status": to, "updated_at": now, **fields}
    if not Booking.objects.filter(pk=booking.pk, status__in=allowed).update(**changes):
        current = Booking.objects.values_list("status", flat=True).get(pk=booking.pk)
        booking.status = current
        raise InvalidTransition(
            f"Booking {booking.reference} is {BookingStatus(current).label.lower()}: "
            f"it cannot be {STATUS_VERBS.get(to, to)}."
        )
    for name, value in changes.items():
        setattr(booking, name, value)


def log_event(booking: Booking, action: str, *, actor: Any = None, **data: Any) -> BookingEvent:
    return BookingEvent.objects.create(booking=booking, action=action, actor=_actor(actor), data=data)


def _actor(actor: Any) -> Any:
    return actor if actor is not None and getattr(actor, "pk", None) is not None else None


def booking_payload(booking: Booking, **extra: Any) -> dict[str, Any]:
    session = booking.session
    local = timezone.localtime(session.starts_at)
    student = booking.student
    data = {
        "booking": booking.pk,
        "reference": booking.reference,
        "status": booking.status,
        "session": session.pk,
        "product": session.product.name,
        "starts_at": session.starts_at.isoformat(),
        "student": str(student),
        "summary": f"{booking.reference} · {student} · {session.product.name}, {local:%a %d %b %H:%M}",
    }
    data.update(extra)
    return data


def slot_data(session_id: int, *, capacity: int, seats_taken: int, status: str) -> dict[str, Any]:
    """The ``slot.updated`` payload."""
    return {
        "session": session_id,
        "capacity": capacity,
        "seats_taken": seats_taken,
        "seats_left": max(capacity - seats_taken, 0),
        "status": status,
    }


def slot_payload(session_id: int) -> dict[str, Any]:
    row = Session.objects.values("capacity", "seats_taken", "status").get(pk=session_id)
    return slot_data(session_id, **row)


def booking_groups(session: Session) -> list[str]:
    groups = [staff_group(), session_group(session.pk)]
    if session.tutor_id:
        groups.append(tutor_group(session.tutor.user_id))
    return groups


def booking_recipients(session: Session) -> list[int]:
    return [session.tutor.user_id] if session.tutor_id else []


def publish_booking(type: str, booking: Booking, **extra: Any) -> None:
    bump_dashboard_version()
    session = booking.session
    publish(
        type,
        booking_payload(booking, **extra),
        groups=booking_groups(session),
        recipients=booking_recipients(session),
    )


def publish_slot(session_id: int, payload: dict[str, Any] | None = None, *, bump: bool = True) -> None:
    """Publish the session's seat counts. ``bump=False`` when this transaction already bumped the
    dashboard version (one cache write per commit is enough)."""
    if bump:
        bump_dashboard_version()
    payload = payload or slot_payload(session_id)
    publish("slot.updated", payload, groups=[staff_group(), session_group(session_id)])


def fresh(booking: Booking, *, lock: bool = False) -> Booking:
    """Re-read a booking with what the services need; callers may hold a stale instance.

    ``lock=True`` takes the booking's row lock for the rest of the transaction (PostgreSQL; SQLite
    transactions are serialised anyway), so what is read cannot change before it is acted on.
    """
    query = Booking.objects.select_related("session__product", "session__tutor__user", "student")
    if lock:
        query = query.select_for_update(of=("self",))
    return query.get(pk=booking.pk)
