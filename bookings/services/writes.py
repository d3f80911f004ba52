"""Writes the ORM defines, compiled to SQL once per process and run again with new values.

The reads' way (``bookings.selectors.compiled``), for the writes every payment callback makes: a
paid booking's history row, its start reminders, the call's log row (INSERTs), the payment's paid
state and the booking's payment reminders cancelled (UPDATEs). Building and compiling each of these
cost Django more CPU than PostgreSQL spent running it: bench/callback_writes.py (PostgreSQL 15, the
2-core machine of issue 15) times those five at 2.65–2.69 ms of CPU through the ORM and 1.19–1.22
ms compiled (2.20–2.24×), in a callback of 7–8 ms. The ORM stays the writes' one definition; only
its compiling is done once:

- ``insert(objs)`` is ``bulk_create(objs)`` of new rows: the INSERT's SQL is compiled by Django's
  insert compiler once per model and number of rows (the first time from these very rows, and
  their parameters compared with the ones computed here), and each call prepares its values as
  the compiler does (each field's ``pre_save`` and ``get_db_prep_save``, in the compiler's order)
  and sets the primary keys from ``RETURNING``. A value that is an expression (``F()``, the
  database's default) goes to ``bulk_create``.
- ``CompiledUpdate(build, *kinds)`` is ``queryset.update(**changes)`` of ``build(*values)``, compiled
  once with marker values and checked as a ``CompiledRead`` is; ``save_fields(instance, names)`` is
  ``instance.save(update_fields=names)`` through one of them per model, fields and kinds of value.

PostgreSQL only: on any other database (the embedded SQLite) each is the ORM's own call.
tests/bookings/test_writes.py compares the rows each writes with the ORM's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from threading import Lock
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.models import AutoField, Model, QuerySet
from django.db.models.sql import InsertQuery, UpdateQuery

from bookings.selectors.compiled import Compiled, CompileError, compile_statement, name_of, same_param

Changes = dict[str, Any]

# --- INSERT ------------------------------------------------------------------------------------------

_inserts: dict[tuple[type[Model], int, str], tuple[str, bool]] = {}
COMPILED_ROWS = 100  # an INSERT of more rows is bulk_create's (a sweep's, an import's): compiled per row count
_inserts_lock = Lock()


def insert[ModelT: Model](objs: Sequence[ModelT], *, using: str = "default") -> list[ModelT]:
    """Save new rows of one model in one INSERT, as ``bulk_create(objs)`` does (no signals); returns
    ``objs``, their primary keys set."""
    objs = list(objs)
    if not objs:
        return objs
    model = type(objs[0])
    connection = connections[using]
    if (
        connection.vendor != "postgresql"
        or len(objs) > COMPILED_ROWS
        or any(type(obj) is not model or obj.pk is not None for obj in objs)
    ):
        return model._default_manager.using(using).bulk_create(objs)
    fields, returning = _insert_fields(model)
    values = [field.pre_save(obj, True) for obj in objs for field in fields]
    if any(hasattr(value, "resolve_expression") for value in values):
        return model._default_manager.using(using).bulk_create(objs)
    width = len(fields)
    params = [fields[n % width].get_db_prep_save(value, connection) for n, value in enumerate(values)]
    key = (model, len(objs), using)
    compiled = _inserts.get(key)
    if compiled is None:
        with _inserts_lock:
            compiled = _inserts.get(key) or _compile_insert(model, fields, returning, objs, params, using)
            _inserts[key] = compiled
    sql, by_column = compiled
    if by_column:
        params = [params[column::width] for column in range(width)]
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for obj, row in zip(objs, rows, strict=True):
        for field, value in zip(returning, row, strict=True):
            setattr(obj, field.attname, value)
        obj._state.adding = False
        obj._state.db = using
    return objs


@cache
def _insert_fields(model: type[Model]) -> tuple[list[Any], list[Any]]:
    """The columns ``bulk_create`` writes for rows without a primary key, and those it reads back."""
    meta = model._meta
    returning = list(meta.db_returning_fields)
    if not all(isinstance(field, AutoField) for field in returning):
        raise CompileError(f"{model.__name__}: only an auto-incremented key is read back by insert().")
    fields = [field for field in meta.concrete_fields if not field.generated and not isinstance(field, AutoField)]
    return fields, returning


def _compile_insert(
    model: type[Model], fields: list[Any], returning: list[Any], objs: list[Model], params: list[Any], using: str
) -> tuple[str, bool]:
    """The INSERT Django's compiler writes for ``objs``, checked against the parameters prepared here,
    and whether it takes them by column (PostgreSQL's ``UNNEST`` of an array per field, Django's
    form for several rows) rather than row after row (``VALUES``). ``raw``: the compiler takes the
    values ``pre_save`` has already set on the rows."""
    query = InsertQuery(model)
    query.insert_values(fields, objs, raw=True)
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = returning
    [(sql, compiled)] = compiler.as_sql()
    width = len(fields)
    for by_column, ours in ((False, params), (True, [params[column::width] for column in range(width)])):
        if len(compiled) == len(ours) and all(same_param(a, b) for a, b in zip(compiled, ours, strict=True)):
            return sql, by_column
    raise CompileError(f"{model.__name__}: the INSERT's parameters are not its fields' values in order.")


# --- UPDATE ------------------------------------------------------------------------------------------


class CompiledUpdate(Compiled):
    """``build(*values)`` -> ``(queryset, changes)``: ``queryset.update(**changes)``, compiled once per
    database alias, checked as a ``CompiledRead`` is. Calling it returns the number of rows
    updated, as ``update()`` does."""

    def __call__(self, *values: Any, using: str = "default") -> int:
        connection = connections[using]
        if connection.vendor != "postgresql":
            self._check(values)
            queryset, changes = self.build(*values)
            return queryset.using(using).update(**changes)
        sql, constants, slots = self.compiled(using)
        with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
            cursor.execute(sql, self._params(values, constants, slots))
            return cursor.rowcount

    def _compile(self, using: str) -> tuple[str, list[Any], list[int | None]]:
        def statement(values: Sequence[Any]) -> tuple[str, Sequence[Any]]:
            queryset, changes = self.build(*values)
            # As QuerySet.update() builds it.
            query = queryset.using(using).query.chain(UpdateQuery)
            query.add_update_values(changes)
            query.clear_select_clause()
            compiler = query.get_compiler(using)
            sql, params = compiler.as_sql()
            if query.related_updates:
                raise CompileError("a CompiledUpdate writes one table")
            return sql, params

        return compile_statement(name_of(self.build), self.kinds, statement, using)


def save_fields(instance: Model, names: Sequence[str], *, using: str = "default") -> None:
    """``instance.save(update_fields=names)`` as one compiled UPDATE by primary key (the fields'
    ``pre_save`` first, as ``save`` calls it; no ``pre_save``/``post_save`` signal, as ``update()``
    sends none: for models with no receivers); ``save`` itself where a value is not of a kind a
    compiled statement takes (None, a Decimal, an expression)."""
    meta = instance._meta
    fields = [meta.get_field(name) for name in names]
    values = [field.pre_save(instance, False) for field in fields]
    kinds = tuple(_kind(value) for value in values)
    if connections[using].vendor != "postgresql" or None in kinds or not isinstance(instance.pk, int):
        instance.save(update_fields=names, using=using)
        return
    update = _row_update(type(instance), tuple(field.name for field in fields), kinds)
    if not update(instance.pk, *values, using=using):
        raise DatabaseError("Save with update_fields did not affect any rows.")
    instance._state.db = using


def _kind(value: Any) -> type | None:
    """The kind of value a compiled statement takes ``value`` as (a choice is a str), or None."""
    if isinstance(value, bool):
        return None
    return next((kind for kind in (str, int, datetime, date) if isinstance(value, kind)), None)


@cache
def _row_update(model: type[Model], names: tuple[str, ...], kinds: tuple[type, ...]) -> CompiledUpdate:
    def build(pk: Any, *values: Any) -> tuple[QuerySet, Changes]:
        return model._default_manager.filter(pk=pk), dict(zip(names, values, strict=True))

    build.__qualname__ = f"save_fields({model.__name__}, {', '.join(names)})"
    return CompiledUpdate(build, int, *kinds)
