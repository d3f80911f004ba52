"""The project's raw SQL: only what the ORM could not do fast enough, each with the benchmark figure
that put it here and a test that it gives the ORM's result (tests/bookings/test_sql.py).

Besides those, the one statement the ORM has no word for: a transaction-scoped advisory lock
(``advisory_xact_lock``), for work that must run one at a time when there is no row to lock yet.

Everything else is plain ORM: ``select_for_update(skip_locked=True)``, conditional ``update()``
with ``F()``, ``bulk_create``. Tables and columns are named through the models' ``_meta`` API and
rows become instances through ``Model.from_db``; nothing here touches Django's private attributes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from django.db import connection, connections
from django.db.models import Model, QuerySet

from backoffice.models import User
from bookings.models import Booking, BookingEvent, Product, Session, SessionStatus, Tutor


def read_session(session_id: int) -> Session:
    """``Session.objects.select_related("product", "tutor").get(pk=session_id)``: the session with
    its product and tutor, in one SELECT. What ``book()`` decides on.

    Every booker of a popular session runs this read, and in one Python process building the ORM's
    three-table query cost more CPU than PostgreSQL spent answering it. bench/booking_race.py (64
    threads booking one session; PostgreSQL 15, the 2-core machine of issue 13): with the ORM read
    ``book()`` reached 32.9 % and 35.9 % of the raw SQL limit measured in the same runs (91 of 277
    and 49 of 136 bookings/s) -- below the 40 % the issue requires -- and 51.3 % with this
    statement (108 of 210 bookings/s), 2.2 ms less CPU per booking.

    On PostgreSQL the statement is built once per process and psycopg hands back every column of
    these three models as the ORM would (the test compares them field by field). Elsewhere -- the
    embedded SQLite of a single desk, whose values need the ORM's converters -- it is the ORM's read.
    """
    if connection.vendor != "postgresql":
        return Session.objects.select_related("product", "tutor").get(pk=session_id)
    statement, parts = _read_statement(connection.alias)
    with connection.cursor() as cursor:
        cursor.execute(statement, [session_id])
        row = cursor.fetchone()
    if row is None:
        raise Session.DoesNotExist(f"No session with id {session_id}.")
    # A LEFT JOIN that found no tutor leaves every tutor column NULL, its first (not null) one too.
    session, product, tutor = (
        None if row[start] is None else model.from_db(connection.alias, names, row[start:stop])
        for model, start, stop, names in parts
    )
    session.product = product
    session.tutor = tutor  # None for a session without a tutor (LEFT JOIN)
    return session


Part = tuple[type[Model], int, int, tuple[str, ...]]  # model, its columns, attnames


def _columns(quote: Any, tables: Sequence[tuple[str, type[Model]]]) -> tuple[list[str], tuple[Part, ...]]:
    """Every concrete column of each (alias, model), in the order ``from_db`` takes them, and where
    each model's columns are in the row."""
    columns: list[str] = []
    parts: list[Part] = []
    for table, model in tables:
        fields = model._meta.concrete_fields
        start = len(columns)
        columns += [f"{table}.{quote(field.column)}" for field in fields]
        parts.append((model, start, len(columns), tuple(field.attname for field in fields)))
    return columns, tuple(parts)


@cache
def _read_statement(alias: str) -> tuple[str, tuple[Part, ...]]:
    quote = connections[alias].ops.quote_name
    columns, parts = _columns(quote, (("s", Session), ("p", Product), ("t", Tutor)))
    product_id = quote(Session._meta.get_field("product").column)
    tutor_id = quote(Session._meta.get_field("tutor").column)
    statement = (
        f"SELECT {', '.join(columns)} FROM {quote(Session._meta.db_table)} s "
        f"INNER JOIN {quote(Product._meta.db_table)} p ON p.{quote(Product._meta.pk.column)} = s.{product_id} "
        f"LEFT OUTER JOIN {quote(Tutor._meta.db_table)} t ON t.{quote(Tutor._meta.pk.column)} = s.{tutor_id} "
        f"WHERE s.{quote(Session._meta.pk.column)} = %s"
    )
    return statement, parts


def take_seat(session_id: int, *, now: datetime) -> tuple[int, int, str] | None:
    """One seat of an open session that has not started and has one left, taken in one statement:
    ``Session.objects.filter(seats.can_take(now), pk=session_id).update(seats_taken=F("seats_taken") + 1)`` and
    then its ``capacity``, ``seats_taken`` and ``status`` as they now are (``UPDATE ... RETURNING``),
    or None when it could not be taken. PostgreSQL and SQLite (3.35 and later) both answer it.

    The ORM's ``update()`` returns a row count, so it took a second statement to read the counts
    back -- with the session row locked, which every booker of that session waits for, from the
    UPDATE to COMMIT. bench/booking_race.py (64 threads booking one session; PostgreSQL 15, this
    2-core machine, issue 13): ``book()`` at 26.5-28.2 % of the raw SQL limit measured in the same
    runs with the UPDATE and the SELECT (201-215 of 758-764 bookings/s), below the 40 % the issue
    requires; 41.4 % and 41.9 % with this statement (352 of 851 and 377 of 899 bookings/s), the
    lock held for one statement fewer and 1.4 ms less CPU per booking. The test checks it against
    the ORM's update and read.
    """
    quote = connection.ops.quote_name
    meta = Session._meta
    pk, status, starts_at, capacity, seats_taken = (
        quote(meta.get_field(name).column) for name in ("id", "status", "starts_at", "capacity", "seats_taken")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {seats_taken} = {seats_taken} + 1 "
            f"WHERE {pk} = %s AND {status} = %s AND {starts_at} > %s AND {seats_taken} <= {capacity} - 1 "
            f"RETURNING {capacity}, {seats_taken}, {status}",
            [session_id, SessionStatus.OPEN, meta.get_field("starts_at").get_db_prep_value(now, connection)],
        )
        row = cursor.fetchone()
    return None if row is None else (row[0], row[1], row[2])


def table_count(model: type[Model], *, estimate_from: int, using: str = "default") -> int:
    """``model.objects.count()`` for a small table; past ``estimate_from`` rows, PostgreSQL's
    planner estimate (``pg_class.reltuples``, kept fresh by autovacuum). PostgreSQL only.

    For the admin's unfiltered lists (``LargeTablePaginator``): counting every row on each page
    load grows with the centre's history -- ``SELECT COUNT(*)`` took 114 ms at a million bookings
    in bench/admin_changelist.py (the naive admin; issue 13's machine), this statement 1.0 ms --
    while the page needs "about" that many for its page links. The ORM has no statement for a
    table's statistics. One statement either way, so a page's query count does not depend on the
    table's size.
    """
    db = connections[using]
    table = model._meta.db_table
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN reltuples >= %s THEN reltuples::bigint "
            f"ELSE (SELECT count(*) FROM {db.ops.quote_name(table)}) END "
            "FROM pg_class WHERE oid = %s::regclass",
            [estimate_from, table],
        )
        return cursor.fetchone()[0]


def flip_and_record(
    targets: QuerySet[Booking] | Sequence[int],
    *,
    allowed: Sequence[str],
    changes: Mapping[str, Any],
    history: tuple[str, int | None, Mapping[str, Any], datetime],
) -> list[tuple[Any, ...]]:
    """A move's compare-and-set and history in one statement (PostgreSQL): the bookings of
    ``targets`` (a ``values("pk")`` query, which may lock and limit its rows, or the ids of bookings
    the caller has read) whose status is in ``allowed`` get ``changes``, each gets a history row
    ``(action, actor id, data, created_at)``, and their ``state_machine.ROW_FIELDS`` come back, in
    id order.

    ``state_machine.flip_and_record`` does the same in three ORM statements -- read the rows,
    UPDATE them by id, ``bulk_create`` the history -- and the test compares the two. For a sweep
    that cost more than the 100x over a per-row loop the issue asks of ``expire_due()``:
    bench/expiry_sweep.py (100,000 due bookings; PostgreSQL 15, the 2-core machine of issue 13)
    measured 52.3 s, 38x the loop's 1,994 s, of which 70 % in reading the rows as instances and
    writing their history, and 11.4 s in the UPDATE's list of 25,000 ids per batch; here the
    database takes the rows from the ``targets`` subquery itself. The statement's text is built
    once per set of columns and kind of targets: building it, and compiling the subquery of the
    booking's id, was 8 % of a paying callback's CPU in a profile of bench/payment_callbacks.py's
    server (a payment's confirmation now passes the id itself).
    """
    if isinstance(targets, QuerySet):
        chosen, chosen_params = targets.query.sql_with_params()
        chosen = f"ARRAY({chosen})"
    else:
        chosen, chosen_params = "%s", [list(targets)]
    statement, set_fields, history_fields = _flip_statement(tuple(changes), chosen)
    set_params = [
        field.get_db_prep_save(value, connection) for field, value in zip(set_fields, changes.values(), strict=True)
    ]
    history_params = [
        field.get_db_prep_save(value, connection) for field, value in zip(history_fields, history, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, [*set_params, *chosen_params, list(allowed), *history_params])
        return cursor.fetchall()


@lru_cache(maxsize=64)
def _flip_statement(names: tuple[str, ...], chosen: str) -> tuple[str, list[Any], list[Any]]:
    """``flip_and_record``'s statement setting ``names`` of the bookings whose ids are ``chosen``
    (an array), with the fields its parameters are prepared by."""
    booking, session, product, tutor, user, event = (
        model._meta for model in (Booking, Session, Product, Tutor, User, BookingEvent)
    )
    quote = connection.ops.quote_name
    set_fields = [booking.get_field(name) for name in names]
    sets = ", ".join(f"{quote(field.column)} = %s" for field in set_fields)
    columns = [event.get_field(name) for name in ("booking", "action", "actor", "data", "created_at")]
    values = [f"CAST(%s AS {field.cast_db_type(connection)})" for field in columns[1:]]
    statement = f"""
        WITH moved AS (
            UPDATE {quote(booking.db_table)} SET {sets}
            WHERE id = ANY({chosen}) AND status = ANY(%s)
            RETURNING id, reference, session_id, student_id
        ), history AS (
            INSERT INTO {quote(event.db_table)} ({", ".join(quote(field.column) for field in columns)})
            SELECT id, {", ".join(values)} FROM moved
        )
        SELECT moved.id, moved.reference, moved.session_id, moved.student_id, s.starts_at, p.name, p.code, t.user_id,
               u.first_name, u.last_name, u.phone, u.email, u.username
        FROM moved
        JOIN {quote(session.db_table)} s ON s.id = moved.session_id
        JOIN {quote(product.db_table)} p ON p.id = s.product_id
        LEFT JOIN {quote(tutor.db_table)} t ON t.id = s.tutor_id
        JOIN {quote(user.db_table)} u ON u.id = moved.student_id
        ORDER BY moved.id
    """
    return statement, set_fields, columns[1:]


def advisory_xact_lock(name: str) -> None:
    """Wait for, then hold until the transaction ends, the lock called ``name``: the second of two
    workers doing the same insert-if-missing waits here, then sees the first one's rows.

    PostgreSQL only (``pg_advisory_xact_lock``); SQLite's IMMEDIATE transactions are serialised
    already, so elsewhere this does nothing. Call it inside ``transaction.atomic()``.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
