"""What every importer shares: columns, the row-checking loop's contract, and cell parsers.

An importer works in three steps so that it never queries per row:

1. ``parse(line, row)`` turns one row's text into typed values, without the database.
2. ``preload(parsed)`` reads everything the rows refer to (products, tutors, students, sessions,
   existing rows) in a few chunked ``IN`` queries.
3. ``plan(parsed)`` decides each row against those lookups and against the rows before it in the
   file -- new, updated, skipped or invalid -- and ``write(plans)`` makes the changes in bulk
   through ``bookings.services.imports``.

A dry run stops after step 3, so what it predicts is exactly what a real run does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models.functions import Lower

from backoffice.phones import normalize_phone
from bookings.imports.parsing import ImportFileError, Row
from bookings.imports.report import Action, clip, quoted
from bookings.models import Product, Tutor

# Size of the IN lists used to preload lookups (well under SQLite's 32766 variables).
CHUNK = 2000
E164 = re.compile(r"\+[1-9]\d{6,14}")


@dataclass(frozen=True)
class Column:
    """One import column, as documented on the import page, in the README and in the template."""

    name: str
    required: bool
    help: str
    example: str


class RowInvalid(Exception):
    """A row cannot be imported; ``column`` names the culprit when there is one.

    ``more`` carries further problems of the same row (say, two sub-scores off the grid), so the
    person fixes them all in one go.
    """

    def __init__(self, message: str, column: str | None = None, *, more: Sequence[tuple[str | None, str]] = ()) -> None:
        self.message = message
        self.column = column
        self.more = list(more)
        super().__init__(message)

    def problems(self) -> list[tuple[str | None, str]]:
        return [(self.column, self.message), *self.more]


@dataclass(slots=True)
class Plan[T]:
    """What to do with one valid row: ``item`` is what ``write`` needs (None for a skipped row)."""

    line: int
    action: Action
    summary: str
    item: T | None = None
    message: str = ""


class Importer[P]:
    """Base of the four importers. Subclasses set the class attributes and the four steps."""

    kind: ClassVar[str]
    label: ClassVar[str]
    permission: ClassVar[str]
    model: ClassVar[type[models.Model]]
    columns: ClassVar[list[Column]]

    def __init__(self, *, actor: Any, now: datetime) -> None:
        self.actor = actor if getattr(actor, "pk", None) is not None else None
        self.now = now
        self.zone = ZoneInfo(settings.TIME_ZONE)
        self._times: dict[str, datetime] = {}

    # -- the contract ---------------------------------------------------------------------------

    @classmethod
    def check_headers(cls, headers: Sequence[str], filename: str) -> None:
        """Raise ImportFileError when a required column is missing."""
        present = set(headers)
        for column in cls.columns:
            if column.required and column.name not in present:
                raise ImportFileError(
                    f"The file has no column “{column.name}”: the {cls.kind} import needs "
                    f"{cls.required_text()} (found: {found_headers(headers)})."
                )

    @classmethod
    def required_text(cls) -> str:
        return ", ".join(c.name for c in cls.columns if c.required)

    def parse(self, line: int, row: Row) -> P:
        raise NotImplementedError

    def preload(self, items: Sequence[P]) -> None:
        raise NotImplementedError

    def plan(self, line: int, item: P) -> Plan[Any]:
        raise NotImplementedError

    def write(self, plans: Sequence[Plan[Any]]) -> None:
        raise NotImplementedError

    def describe(self, item: P | None, row: Row | None) -> str:
        """A short description of an invalid row for the preview: from ``row`` when it did not parse."""
        return ", ".join(value for value in (row or {}).values() if value)[:120]

    # -- shared cell parsers -----------------------------------------------------------------------

    def local_time(self, value: str, column: str = "starts_at") -> datetime:
        """``YYYY-MM-DD HH:MM`` (or ``…:SS``, or ``DD.MM.YYYY HH:MM``) on the centre's clock, as UTC.

        The centre's clock (TIME_ZONE) is what the admin shows and exports, so files round-trip.
        A time that does not exist, or happens twice, on that clock that day is refused.
        """
        cached = self._times.get(value)
        if cached is not None:
            return cached
        if not value:
            raise RowInvalid(f"{column} is empty: give the local start time as YYYY-MM-DD HH:MM.", column)
        wall = _parse_wall(value)
        if wall is None:
            raise RowInvalid(f"{quoted(value)} in {column} is not a date and time: use YYYY-MM-DD HH:MM.", column)
        first = wall.replace(tzinfo=self.zone, fold=0)
        instant = first.astimezone(UTC)
        if instant.astimezone(self.zone).replace(tzinfo=None) != wall:
            raise RowInvalid(f"{value} does not exist on the centre's clock that day (clocks go forward).", column)
        if first.utcoffset() != wall.replace(tzinfo=self.zone, fold=1).utcoffset():
            raise RowInvalid(f"{value} happens twice on the centre's clock that day (clocks go back).", column)
        self._times[value] = instant
        return instant

    @staticmethod
    def a_date(value: str, column: str) -> date:
        text = value.strip()
        if text.endswith(" 00:00"):
            text = text[:-6]  # a date cell from Excel that carried a midnight time
        for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
            try:
                return datetime.strptime(text, pattern).date()
            except ValueError:
                continue
        raise RowInvalid(f"{quoted(value)} in {column} is not a date: use YYYY-MM-DD.", column)

    @staticmethod
    def a_decimal(value: str, column: str) -> Decimal | None:
        if not value:
            return None
        try:
            number = Decimal(value.replace(",", "."))  # 6,5 as typed with a comma decimal separator
        except InvalidOperation:
            raise RowInvalid(f"{quoted(value)} in {column} is not a number.", column) from None
        if not number.is_finite():
            raise RowInvalid(f"{quoted(value)} in {column} is not a number.", column)
        return number

    @staticmethod
    def a_positive_int(value: str, column: str) -> int | None:
        if not value:
            return None
        text = value[:-2] if value.endswith(".0") else value
        if not text.isdigit() or int(text) < 1:
            raise RowInvalid(f"{quoted(value)} in {column} is not a whole number of 1 or more.", column)
        return int(text)

    @staticmethod
    def a_choice(value: str, column: str, choices: type[models.TextChoices], default: str) -> str:
        text = value.strip().lower()
        if not text:
            return default
        for choice in choices:  # members, not .values: that property builds a new list per call
            if choice.value == text:
                return choice.value  # the constant, not this row's copy of it: 50,000 rows share one string
        raise RowInvalid(f"{quoted(value)} in {column} is not one of: {', '.join(choices.values)}.", column)

    @staticmethod
    def contact(value: str, column: str) -> tuple[str, str]:
        """("email", "a@b.uz") or ("phone", "+998901234567") for a person's phone or e-mail."""
        text = value.strip()
        if "@" in text:
            return "email", an_email(text, column)
        return "phone", a_phone(text, column)


def found_headers(headers: Sequence[str]) -> str:
    """The file's columns, as a refusal lists them (a header row can be very wide)."""
    return clip(", ".join(h for h in headers if h), 200) or "nothing"


def an_email(value: str, column: str = "email") -> str:
    text = value.strip().lower()
    try:
        validate_email(text)
    except ValidationError:
        raise RowInvalid(f"{quoted(value)} in {column} is not an e-mail address.", column) from None
    return text


_PHONES: dict[tuple[str, str], str] = {}


def a_phone(value: str, column: str = "phone") -> str:
    """E.164 via ``backoffice.phones.normalize_phone``; memoised, as a term's file repeats its students
    (and parsing a number costs more than the rest of the row)."""
    key = (settings.PHONENUMBER_DEFAULT_REGION, value)
    cached = _PHONES.get(key)
    if cached is not None:
        return cached
    try:
        phone = normalize_phone(value)
    except ValidationError:
        raise RowInvalid(f"{quoted(value)} in {column} is not a phone number.", column) from None
    if len(_PHONES) > 100_000:
        _PHONES.clear()  # bounded: a long-running worker must not keep every number it ever saw
    _PHONES[key] = phone
    return phone


def _parse_wall(value: str) -> datetime | None:
    text = " ".join(value.replace("T", " ").split())
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def chunks[T](values: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- lookups shared by several importers ------------------------------------------------------


class Products:
    """Every product by code: a centre sells tens of them, and the error lists the known codes."""

    def __init__(self) -> None:
        self.by_code = {p.code.lower(): p for p in Product.objects.all()}

    def get(self, code: str, column: str = "product_code") -> Product:
        if not code:
            raise RowInvalid(f"{column} is empty.", column)
        product = self.by_code.get(code.strip().lower())
        if product is None:
            known = ", ".join(sorted(p.code for p in self.by_code.values() if p.is_active)[:15]) or "none yet"
            raise RowInvalid(f"unknown product {quoted(code)} (known: {known}).", column)
        return product


class Tutors:
    """Tutors named in the file, by e-mail (any case) or phone, read in chunked queries."""

    def __init__(self, keys: Iterable[tuple[str, str]]) -> None:
        keys = list(keys)
        emails = sorted({value for kind, value in keys if kind == "email"})
        phones = sorted({value for kind, value in keys if kind == "phone"})
        self.by_key: dict[tuple[str, str], Tutor] = {}
        base = Tutor.objects.select_related("user")
        for batch in chunks(emails):
            # Lower(): e-mails are unique whatever their case, and an old row may not be lower-cased.
            for tutor in base.annotate(email_key=Lower("user__email")).filter(email_key__in=batch):
                self.by_key["email", tutor.email_key] = tutor
        for batch in chunks(phones):
            for tutor in base.filter(user__phone__in=batch):
                self.by_key["phone", tutor.user.phone] = tutor

    def get(self, key: tuple[str, str] | None, raw: str, column: str = "tutor") -> Tutor | None:
        if key is None:
            return None
        tutor = self.by_key.get(key)
        if tutor is None:
            raise RowInvalid(f"no tutor with {'e-mail' if key[0] == 'email' else 'phone'} {key[1]}.", column)
        return tutor
