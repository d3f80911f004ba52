"""Reads the ORM defines, compiled to SQL once per process and run again with new values.

Building a queryset of annotations and subqueries and compiling it costs Django more CPU than
PostgreSQL spends answering it when the read is small and indexed: the dashboard's statistics
(``student_stats``) took 3.9 ms with the ORM and 1.0 ms as the same SQL run again (bench/api.py's
database, 100,000 bookings, median of 200 in one process). ``CompiledRead`` keeps the queryset as
the read's one definition: only the compiling is done once.

The queryset is built by a function of the read's values. On first use it is built and compiled
twice, with two different sets of marker values, and checked: the SQL must be the same text both
times, and the parameters must differ exactly where a marker went in, each marker found. A value
the function changes in Python (``now + timedelta(...)``), formats into the SQL, or drops would
break this, and the read refuses to compile (``CompileError``) rather than run a wrong query; the
tests compile every read. Each later call puts its values where the markers were and runs the SQL.

Rows come back as the queryset's ``.values()`` dicts, as psycopg loads them. That is the ORM's
result only where the ORM converts nothing, so this is for PostgreSQL; on any other database (the
embedded SQLite) a read is the ORM's own. tests/bookings/test_compiled.py compares the two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from threading import Lock
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet

# Two markers per kind of value: values no read is called with and no query holds as a constant.
_MARKERS: dict[type, Callable[[int, int], Any]] = {
    int: lambda n, kind: -987_654_000 - 10 * n - kind,
    str: lambda n, kind: f"\x1fmarker-{n}-{kind}\x1f",
    datetime: lambda n, kind: datetime(1901 + kind, 1, 1 + n, 0, 0, 0, 123_457, tzinfo=UTC),
    date: lambda n, kind: date(1901 + kind, 1, 1 + n),
}


class CompileError(Exception):
    """The queryset's values do not map onto its SQL's parameters one to one."""


class Compiled:
    """A statement ``build(*values)`` defines, compiled once per database alias (``compiled()``, made
    by the subclass's ``_compile``). ``kinds`` are the types of ``build``'s arguments (``int``,
    ``str``, ``datetime``, ``date``). Shared by ``CompiledRead`` and the compiled writes
    (``bookings.services.writes.CompiledUpdate``)."""

    def __init__(self, build: Callable[..., Any], *kinds: type) -> None:
        unknown = [kind for kind in kinds if kind not in _MARKERS]
        if unknown:
            raise TypeError(
                f"{type(self).__name__} takes values of {', '.join(t.__name__ for t in _MARKERS)}, not {unknown}."
            )
        self.build = build
        self.kinds = kinds
        self._compiled: dict[str, Any] = {}
        self._lock = Lock()

    def compiled(self, using: str = "default") -> Any:
        """The SQL, its constant parameters, which value goes where (None: the constant), and what
        else the subclass keeps (a read: the row's keys)."""
        found = self._compiled.get(using)
        if found is None:
            with self._lock:
                found = self._compiled.get(using) or self._compile(using)
                self._compiled[using] = found
        return found

    def _compile(self, using: str) -> Any:
        raise NotImplementedError

    def _check(self, values: Sequence[Any]) -> None:
        if len(values) != len(self.kinds):
            raise TypeError(f"this statement takes {len(self.kinds)} values, not {len(values)}")

    def _params(self, values: Sequence[Any], constants: Sequence[Any], slots: Sequence[int | None]) -> list[Any]:
        """The parameters of one call: its values where the markers were, the constants elsewhere."""
        self._check(values)
        return [constant if slot is None else values[slot] for constant, slot in zip(constants, slots, strict=True)]


class CompiledRead(Compiled):
    """``build(*values)`` -> a ``.values()`` queryset, compiled once per database alias.

    Calling the read returns the list of row dicts that ``list(build(*values))`` returns.
    """

    def __call__(self, *values: Any, using: str = "default") -> list[dict[str, Any]]:
        connection = connections[using]
        if connection.vendor != "postgresql":
            self._check(values)
            return list(self.build(*values).using(using))
        sql, constants, slots, names = self.compiled(using)
        with connection.cursor() as cursor:
            cursor.execute(sql, self._params(values, constants, slots))
            rows = cursor.fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _compile(self, using: str) -> tuple[str, list[Any], list[int | None], list[str]]:
        built: list[QuerySet] = []

        def statement(values: Sequence[Any]) -> tuple[str, Sequence[Any]]:
            built.append(self.build(*values).using(using))
            return built[-1].query.sql_with_params()

        sql, constants, slots = compile_statement(name_of(self.build), self.kinds, statement, using)
        return sql, constants, slots, _row_keys(built[0])


def compile_statement(
    name: str, kinds: Sequence[type], statement: Callable[[Sequence[Any]], tuple[str, Sequence[Any]]], using: str
) -> tuple[str, list[Any], list[int | None]]:
    """The SQL ``statement(values)`` compiles to, its constant parameters and which value goes where.

    ``statement`` is called twice, with two sets of marker values of ``kinds``: the SQL must be the
    same text, and the parameters must differ exactly where a marker went in, each marker found
    (``CompileError`` otherwise). Shared by ``CompiledRead`` and the compiled writes
    (``bookings.services.writes``).
    """
    markers = [[_MARKERS[kind](n, variant) for n, kind in enumerate(kinds)] for variant in (0, 1)]
    (sql, params), (other_sql, other_params) = (statement(values) for values in markers)
    # As the backend passes them (SQLite's dates are strings): how a marker shows in the parameters.
    markers = [[_adapted(connections[using], value) for value in values] for values in markers]
    if sql != other_sql or len(params) != len(other_params):
        raise CompileError(f"{name}: its SQL changes with its values (a value formatted into the SQL?).")
    slots: list[int | None] = []
    for one, other in zip(params, other_params, strict=True):
        if same_param(one, other):
            slots.append(None)
            continue
        slot = _slot(one, markers[0])
        if slot is None or _slot(other, markers[1]) != slot:
            raise CompileError(f"{name}: a parameter depends on its values but is none of them ({one!r}).")
        slots.append(slot)
    missing = set(range(len(kinds))) - set(slots)
    if missing:
        raise CompileError(f"{name}: values {sorted(missing)} do not reach its SQL as parameters.")
    return sql, list(params), slots


def name_of(build: Callable[..., Any]) -> str:
    return getattr(build, "__qualname__", repr(build))


def _row_keys(queryset: QuerySet) -> list[str]:
    """The keys of the ``.values()`` rows, in the SQL's column order."""
    query = queryset.query
    # .values() names the selected columns in order (Django 5.2's Query.selected), as ValuesIterable
    # names a row's values; a model queryset selects no names.
    if not query.selected or query.extra_select:
        raise CompileError("a CompiledRead builds a .values() queryset, without .extra()")
    return list(query.selected)


def _adapted(connection: Any, value: Any) -> Any:
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return connection.ops.adapt_datefield_value(value)
    return value


def same_param(one: Any, other: Any) -> bool:
    """Whether two parameters are the same value of the same type (an array: item by item;
    psycopg's JSON wrappers, which have no equality, by what they wrap and how it is dumped)."""
    if type(one) is not type(other):
        return False
    if isinstance(one, list):
        return len(one) == len(other) and all(same_param(a, b) for a, b in zip(one, other, strict=True))
    if hasattr(one, "obj") and hasattr(one, "dumps"):
        return one.obj == other.obj and one.dumps is other.dumps
    return one == other


def _slot(param: Any, markers: Sequence[Any]) -> int | None:
    for n, marker in enumerate(markers):
        if param == marker and isinstance(param, type(marker)):
            return n
    return None


class Instances:
    """Model instances from ``.values()`` rows, as ``select_related()`` with ``only()`` loads them.

    ``paths`` are the fields read, as ``only()`` takes them (``"session__product__code"``); each
    relation they go through is loaded too, its primary key and foreign keys with it, and set on
    its parent (a nullable relation whose row is missing is None). ``columns`` are what the
    ``.values()`` queryset must select; ``extra`` names values set on the instance as they are
    (annotations). A related row met again in the same call is the same instance (a page's
    bookings of one product share it, as ``prefetch_related`` shares them): rows to read, not to save.
    """

    def __init__(self, model: type[Model], paths: Sequence[str], *, extra: Sequence[str] = ()) -> None:
        self.root = _Node(model, "")
        for path in paths:
            *relations, name = path.split("__")
            node = self.root
            for relation in relations:
                node = node.child(relation)
            node.read(name)
        self.extra = tuple(extra)
        self.columns = [*self.root.columns(), *self.extra]

    def __call__(self, rows: Sequence[dict[str, Any]], *, using: str = "default") -> list[Any]:
        loaded = []
        seen: dict[tuple[int, Any], Any] = {}
        for row in rows:
            instance = self.root.load(row, using, seen)
            for name in self.extra:
                setattr(instance, name, row[name])
            loaded.append(instance)
        return loaded


class _Node:
    def __init__(self, model: type[Model], prefix: str) -> None:
        self.model = model
        self.prefix = prefix
        self.children: dict[str, _Node] = {}
        self.names = {model._meta.pk.attname}

    def child(self, relation: str) -> _Node:
        if relation not in self.children:
            field = self.model._meta.get_field(relation)
            if not (field.many_to_one or field.one_to_one) or not field.concrete:
                raise CompileError(f"{self.model.__name__}.{relation} is not a foreign key")
            self.names.add(field.attname)
            self.children[relation] = _Node(field.related_model, f"{self.prefix}{relation}__")
        return self.children[relation]

    def read(self, name: str) -> None:
        self.names.add(self.model._meta.get_field(name).attname)

    def columns(self) -> list[str]:
        # from_db takes a model's values in its concrete fields' order.
        self.attnames = [field.attname for field in self.model._meta.concrete_fields if field.attname in self.names]
        self.keys = [self.prefix + attname for attname in self.attnames]
        self.pk_key = self.prefix + self.model._meta.pk.attname
        return [*self.keys, *(key for child in self.children.values() for key in child.columns())]

    def load(self, row: dict[str, Any], using: str, seen: dict[tuple[int, Any], Any]) -> Any:
        pk = row[self.pk_key]
        if pk is None:
            return None  # a LEFT JOIN that found no row
        known = (id(self), pk)
        if self.prefix and known in seen:  # the same related row: its whole subtree is the same too
            return seen[known]
        instance = self.model.from_db(using, self.attnames, [row[key] for key in self.keys])
        for relation, child in self.children.items():
            setattr(instance, relation, child.load(row, using, seen))
        if self.prefix:
            seen[known] = instance
        return instance
