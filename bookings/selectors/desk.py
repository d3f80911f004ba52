"""The booking desk: sessions by the date as typed, students by name or phone, a moved booking by its
old reference, bookings awaiting a result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import (
    F,
    Q,
    QuerySet,
)
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, ExtractMinute
from django.utils import timezone

from backoffice.models import User
from bookings.models import (
    Booking,
    BookingStatus,
    Scoring,
    Session,
)
from bookings.selectors.people import sees_own_only
from bookings.selectors.students import bookable_sessions, sessions_open_to_booking

# --- Results -----------------------------------------------------------------------------------------


def bookings_awaiting_result(user: User | Any = None, *, now: datetime | None = None) -> QuerySet[Booking]:
    """Bookings a result can be entered for: confirmed or completed, the session started, no result
    yet, an IELTS-scored product; a tutor's only their own. Newest sitting first, student and
    session loaded (``record_result`` checks the same state, and explains a refusal)."""
    bookings = Booking.objects.filter(
        status__in=(BookingStatus.CONFIRMED, BookingStatus.COMPLETED),
        session__starts_at__lte=now or timezone.now(),
        session__product__scoring=Scoring.IELTS_BAND,
        has_result=False,
    )
    if user is not None and sees_own_only(user):
        bookings = bookings.filter(session__tutor__user=user)
    return bookings.select_related("student", "session__product").order_by("-session__starts_at", "reference")


# --- The booking desk: a session by the date as typed, a student by name or phone, a moved booking --
#
# The add-booking form's pickers and the bookings list's search ask these (bookings.admin.bookings).

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TIME_TERM = re.compile(r"\b(\d{1,2}):(\d{2})\b")
ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
NUMERIC_DATE = re.compile(r"\b(\d{1,2})[./](\d{1,2})(?:[./](\d{4}|\d{2}))?\b")  # day first: 9/12 is 9 December
DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]{3,9})\.?(?:\s+(\d{4}))?\b")
MONTH_DAY = re.compile(r"\b([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?\b")
PHONE_TERM = re.compile(r"[\d\s()+\-.]+")
REFERENCE_TERM = re.compile(r"[A-Z0-9]{4,12}")
MAX_MOVES = 10  # reschedules followed from an old reference; a chain is a few moves at most


@dataclass
class SessionTerm:
    """What a search for a session says: a day (``impossible`` when it names none, "31/02"), a
    weekday (1 Monday .. 7 Sunday), a local time, and the words left."""

    day: date | None = None
    impossible: bool = False
    weekday: int | None = None
    time: tuple[int, int] | None = None
    words: list[str] = field(default_factory=list)


def _named(word: str, names: tuple[str, ...]) -> int | None:
    """1 + the index of the name ``word`` starts (three letters at least): "dec" -> 12."""
    word = word.rstrip(".")
    if len(word) < 3:
        return None
    return next((number for number, name in enumerate(names, 1) if name.startswith(word)), None)


def _day(year: str | None, month: int, day: int, today: date) -> date | None:
    """That day; without a year the nearest one to ``today`` that exists ("9 Jan" in December is
    next January's); None when there is no such day."""
    if year:
        try:
            return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
        except ValueError:
            return None
    days = []
    for candidate in range(today.year - 4, today.year + 5):  # 29/02: the nearest leap year
        try:
            days.append(date(candidate, month, day))
        except ValueError:
            continue
    return min(days, key=lambda d: abs(d - today), default=None)


def _date_in(match: re.Match, pattern: re.Pattern, today: date) -> tuple[bool, date | None]:
    """(whether ``match`` is a date at all, the day it names or None)."""
    groups = match.groups()
    if pattern is ISO_DATE:
        return True, _day(groups[0], int(groups[1]), int(groups[2]), today)
    if pattern is NUMERIC_DATE:
        return True, _day(groups[2], int(groups[1]), int(groups[0]), today)
    day, month_word, year = groups if pattern is DAY_MONTH else (groups[1], groups[0], groups[2])
    month = _named(month_word, MONTHS)
    return (month is not None), (_day(year, month, int(day), today) if month else None)


def read_session_term(term: str, today: date) -> SessionTerm:
    """``term`` as typed at the desk: "Wed 09 Dec", "09 Dec", "Dec 9", "2026-12-09", "9/12",
    "09.12.2026", "09:00", "Wed", with words for the product, room or tutor around them."""
    text = f" {term.lower()} "
    found = SessionTerm()
    if (match := TIME_TERM.search(text)) and int(match[1]) < 24 and int(match[2]) < 60:
        found.time = (int(match[1]), int(match[2]))
        text = f"{text[: match.start()]} {text[match.end() :]}"
    for pattern in (ISO_DATE, NUMERIC_DATE, DAY_MONTH, MONTH_DAY):
        dated = next(((m, d) for m in pattern.finditer(text) if (d := _date_in(m, pattern, today))[0]), None)
        if dated is not None:
            match, (_, found.day) = dated
            found.impossible = found.day is None
            text = f"{text[: match.start()]} {text[match.end() :]}"
            break
    for word in text.replace("·", " ").replace(",", " ").split():
        weekday = _named(word, WEEKDAYS)
        if weekday is not None and found.weekday is None:
            found.weekday = weekday
        else:
            found.words.append(word)
    return found


def search_sessions(sessions: QuerySet[Session], term: str, *, now: datetime | None = None) -> QuerySet[Session]:
    """Of ``sessions``, those ``term`` describes (``read_session_term``): on its day, weekday and
    local time, each word in the product's name or code, the room or the tutor's name. A day
    that does not exist finds nothing. Still one query."""
    tz = timezone.get_default_timezone()
    found = read_session_term(term, timezone.localdate(now or timezone.now(), tz))
    if found.impossible:
        return sessions.none()
    if found.day is not None:
        start = timezone.make_aware(datetime.combine(found.day, time.min), tz)
        end = timezone.make_aware(datetime.combine(found.day + timedelta(days=1), time.min), tz)
        sessions = sessions.filter(starts_at__gte=start, starts_at__lt=end)
    if found.weekday is not None:
        sessions = sessions.alias(local_weekday=ExtractIsoWeekDay("starts_at", tzinfo=tz)).filter(
            local_weekday=found.weekday
        )
    if found.time is not None:
        sessions = sessions.alias(
            local_hour=ExtractHour("starts_at", tzinfo=tz), local_minute=ExtractMinute("starts_at", tzinfo=tz)
        ).filter(local_hour=found.time[0], local_minute=found.time[1])
    for word in found.words:
        sessions = sessions.filter(
            Q(product__name__icontains=word)
            | Q(product__code__icontains=word)
            | Q(room__icontains=word)
            | Q(tutor__user__first_name__icontains=word)
            | Q(tutor__user__last_name__icontains=word)
        )
    return sessions


def sessions_to_book(term: str = "", *, student: User | int | None = None) -> QuerySet[Session]:
    """The add-booking form's session picker: what the booking rules accept (for ``student`` once
    chosen: ``bookable_sessions``), with a seat free, matching ``term``; soonest first, product loaded."""
    sessions = sessions_open_to_booking() if student is None else bookable_sessions(student)
    sessions = search_sessions(sessions.filter(seats_taken__lt=F("capacity")), term)
    return sessions.select_related("product").order_by("starts_at", "pk")


def student_search(term: str, *, prefix: str = "") -> Q:
    """The one rule for finding a student by what staff type, for a queryset of users (``prefix``
    "": the student picker) or of rows reaching one (``prefix`` "student": the bookings list).

    A phone number in any format ("90 123 45 67", "+998901234567", "998 90 1234567") is its digits
    within the stored E.164 number; otherwise every word is in the name, e-mail or phone."""
    path = f"{prefix}__" if prefix else ""
    term = term.strip()
    digits = re.sub(r"\D", "", term)
    if PHONE_TERM.fullmatch(term) and len(digits) >= 4:
        return Q(**{f"{path}phone__contains": digits})
    found = Q()
    for word in term.split():
        found &= (
            Q(**{f"{path}first_name__icontains": word})
            | Q(**{f"{path}last_name__icontains": word})
            | Q(**{f"{path}email__icontains": word})
            | Q(**{f"{path}phone__icontains": word})
        )
    return found


def students_matching(term: str) -> QuerySet[User]:
    """The add-booking form's student picker: students (never staff) ``student_search`` finds, by name."""
    students = User.objects.students().filter(is_staff=False).filter(student_search(term))
    return students.order_by("last_name", "first_name", "pk")


def live_booking_for(reference: str) -> Booking | None:
    """The booking a rescheduled booking moved to, following the reschedule chain to its end (one
    query per move, ``MAX_MOVES`` at most); None when ``reference`` (any case) was never moved."""
    reference = reference.strip().upper()
    if not REFERENCE_TERM.fullmatch(reference):
        return None
    live = Booking.objects.filter(rescheduled_from__reference=reference).first()
    for _ in range(MAX_MOVES - 1):
        if live is None or (moved := Booking.objects.filter(rescheduled_from=live).first()) is None:
            break
        live = moved
    return live
