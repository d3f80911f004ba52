"""The sessions calendar: a day, week or month of sessions on the viewer's clock, by tutor and room.

Staff read the centre's clock; a tutor in another zone reads their own, and the heading names it
("Europe/London time"): ``bookings.selectors.viewer_timezone`` decides.

Served under the session admin (``admin:bookings_session_calendar``). A page costs one query for
its sessions however many there are (product and tutor joined, attendance counted in the same
query for the seats figure), plus one each for the tutor and room filter choices. A tutor sees
only their own sessions: the rows come from the session admin's tutor-scoped queryset.
"""

from __future__ import annotations

import calendar as stdlib_calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from unfold.widgets import UnfoldAdminSelectWidget

from bookings.admin.base import SESSION_STATUS_COLOURS, sees_own_only, tutor_choices
from bookings.models import Session, SessionStatus
from bookings.selectors import viewer_timezone, with_seat_counts, zone_label

if TYPE_CHECKING:
    from bookings.admin.sessions import SessionAdmin

VIEWS = ("day", "week", "month")
MONTH_CELL_LIMIT = 3  # entries shown in a month cell before "+N more"
# One colour per tutor (by id, so it stays put from page to page); exams without a tutor are grey.
PALETTE = ("#2563eb", "#16a34a", "#d97706", "#db2777", "#7c3aed", "#0891b2", "#dc2626", "#65a30d")
NO_TUTOR_COLOUR = "#64748b"


def local_midnight(day: date, tz: tzinfo | None = None) -> datetime:
    """The first instant of ``day`` on ``tz``'s clock (default: the centre's)."""
    return datetime.combine(day, time.min, tzinfo=tz or timezone.get_current_timezone())


def tutor_colour(tutor_id: int | None) -> str:
    return PALETTE[tutor_id % len(PALETTE)] if tutor_id else NO_TUTOR_COLOUR


@dataclass(frozen=True)
class Entry:
    """A session as the calendar draws it: its times on the viewer's clock (naive, so that templates
    do not move them back to the centre's), its tutor's colour, its page."""

    session: Session
    starts: datetime
    ends: datetime
    colour: str
    url: str

    @property
    def cancelled(self) -> bool:
        return self.session.status == SessionStatus.CANCELLED

    @property
    def status_colour(self) -> str:
        return SESSION_STATUS_COLOURS.get(self.session.status, "")


@dataclass
class Column:
    """A day (week and month views) or a tutor or room (day view) with its sessions in time order."""

    title: str
    entries: list[Entry] = field(default_factory=list)
    day: date | None = None
    is_today: bool = False
    in_month: bool = True
    colour: str = ""
    link: str = ""

    @property
    def shown(self) -> list[Entry]:
        return self.entries[:MONTH_CELL_LIMIT]

    @property
    def more(self) -> int:
        return max(len(self.entries) - MONTH_CELL_LIMIT, 0)


class CalendarFilters(forms.Form):
    """The query string, checked: anything unreadable falls back to the default instead of failing."""

    view = forms.ChoiceField(choices=[(v, v) for v in VIEWS], required=False)
    date = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    tutor = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, widget=UnfoldAdminSelectWidget)
    room = forms.ChoiceField(required=False, widget=UnfoldAdminSelectWidget)
    by = forms.ChoiceField(choices=[("tutor", "tutor"), ("room", "room")], required=False)

    def __init__(self, data: Any, *, tutors: list[tuple[int, str]], rooms: list[str]) -> None:
        super().__init__(data)
        self.fields["tutor"].choices = [("", "All tutors"), *tutors]
        self.fields["room"].choices = [("", "All rooms"), *((room, room) for room in rooms)]

    def value(self, name: str) -> Any:
        """The cleaned value, or None when the parameter was missing or wrong."""
        self.is_valid()
        return self.cleaned_data.get(name) if name not in self.errors else None


def calendar_view(request: HttpRequest, model_admin: SessionAdmin) -> TemplateResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    own_only = sees_own_only(request.user)
    scoped = model_admin.get_queryset(request)
    tutors = [] if own_only else [(t.pk, str(t)) for t in tutor_choices(request)]
    rooms = list(scoped.exclude(room="").order_by("room").values_list("room", flat=True).distinct())
    filters = CalendarFilters(request.GET, tutors=tutors, rooms=rooms)
    tz = viewer_timezone(request.user)
    today = timezone.localdate(timezone=tz)
    view = filters.value("view") or "week"
    day = filters.value("date") or today
    tutor, room, by = filters.value("tutor"), filters.value("room"), filters.value("by") or "tutor"

    first, last = visible_days(view, day)
    sessions = with_seat_counts(
        scoped.filter(starts_at__gte=local_midnight(first, tz), starts_at__lt=local_midnight(last, tz))
    )
    if tutor and not own_only:
        sessions = sessions.filter(tutor_id=tutor)
    if room:
        sessions = sessions.filter(room=room)
    entries = [to_entry(s, tz) for s in sessions.order_by("starts_at", "pk")]

    kept = {"tutor": tutor or "", "room": room or "", "by": by if view == "day" else ""}
    base = reverse("admin:bookings_session_calendar")

    def link(**changes: Any) -> str:
        query = {"view": view, "date": day.isoformat(), **kept, **changes}
        return f"{base}?{urlencode({k: v for k, v in query.items() if v})}"

    if view == "day":
        columns = day_columns(entries, by=by)
    else:
        columns = day_cells(entries, first, last, month=day.month if view == "month" else None, today=today)
        for column in columns:
            column.link = link(view="day", date=column.day.isoformat())
    previous, following = step(view, day)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Calendar",
        "content_title": "Calendar",
        "model_admin": model_admin,
        "view": view,
        "day": day,
        "heading": " · ".join(filter(None, [heading(view, day, first, last), zone_heading(tz)])),
        "columns": columns,
        "weeks": [columns[i : i + 7] for i in range(0, len(columns), 7)] if view == "month" else [],
        "weekdays": [stdlib_calendar.day_abbr[i] for i in range(7)],
        "entries": entries,
        "legend": legend(entries),
        "filters": filters,
        "show_tutor_filter": not own_only,
        "by": by,
        "links": {
            "previous": link(date=previous.isoformat()),
            "next": link(date=following.isoformat()),
            "today": link(date=today.isoformat()),
            **{name: link(view=name) for name in VIEWS},
            "by_tutor": link(by="tutor"),
            "by_room": link(by="room"),
        },
        "base_url": base,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/calendar.html", context)


def visible_days(view: str, day: date) -> tuple[date, date]:
    """The first day shown and the day after the last: whole weeks, Monday first, for week and month."""
    if view == "day":
        return day, day + timedelta(days=1)
    if view == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    first = day.replace(day=1)
    last = day.replace(day=stdlib_calendar.monthrange(day.year, day.month)[1])
    return first - timedelta(days=first.weekday()), last + timedelta(days=7 - last.weekday())


def step(view: str, day: date) -> tuple[date, date]:
    """The dates the previous and next buttons lead to."""
    if view == "day":
        return day - timedelta(days=1), day + timedelta(days=1)
    if view == "week":
        return day - timedelta(days=7), day + timedelta(days=7)
    first = day.replace(day=1)
    days_in_month = stdlib_calendar.monthrange(day.year, day.month)[1]
    return (first - timedelta(days=1)).replace(day=1), first + timedelta(days=days_in_month)


def heading(view: str, day: date, first: date, last: date) -> str:
    if view == "day":
        return f"{day:%A} {day.day} {day:%B %Y}"
    if view == "month":
        return f"{day:%B %Y}"
    sunday = last - timedelta(days=1)
    if first.month == sunday.month:
        return f"{first.day} – {sunday.day} {sunday:%B %Y}"
    return f"{first.day} {first:%b} – {sunday.day} {sunday:%b %Y}"


def zone_heading(tz: tzinfo) -> str:
    """ "Europe/London time" for a viewer whose zone is not the centre's; nothing for centre time."""
    label = zone_label(tz)
    return f"{label} time" if label else ""


def to_entry(session: Session, tz: tzinfo | None = None) -> Entry:
    return Entry(
        session=session,
        starts=timezone.localtime(session.starts_at, tz).replace(tzinfo=None),
        ends=timezone.localtime(session.ends_at, tz).replace(tzinfo=None),
        colour=tutor_colour(session.tutor_id),
        url=reverse("admin:bookings_session_change", args=[session.pk]),
    )


def day_cells(
    entries: list[Entry], first: date, last: date, *, month: int | None, today: date | None = None
) -> list[Column]:
    """One column per day from ``first`` up to ``last``, each with the sessions starting that day."""
    today = today or timezone.localdate()
    columns = {d: Column(title=f"{d:%a} {d.day}", day=d, is_today=d == today) for d in days(first, last)}
    for column in columns.values():
        column.in_month = month is None or column.day.month == month
    for entry in entries:
        columns[entry.starts.date()].entries.append(entry)
    return list(columns.values())


def day_columns(entries: list[Entry], *, by: str) -> list[Column]:
    """The day view's columns: one per tutor (or room) with a session that day."""
    columns: dict[Any, Column] = {}
    for entry in entries:
        session = entry.session
        if by == "room":
            key, title, colour = session.room, session.room or "No room", ""
        else:
            key, title, colour = session.tutor_id, str(session.tutor) if session.tutor_id else "No tutor", entry.colour
        columns.setdefault(key, Column(title=title, colour=colour)).entries.append(entry)
    return sorted(columns.values(), key=lambda c: (c.title.startswith("No "), c.title.lower()))


def legend(entries: list[Entry]) -> list[tuple[str, str]]:
    """(tutor, colour) for the tutors on the page, so the colours can be read."""
    seen: dict[str, str] = {}
    for entry in entries:
        name = str(entry.session.tutor) if entry.session.tutor_id else "No tutor"
        seen.setdefault(name, entry.colour)
    return sorted(seen.items(), key=lambda item: (item[0] == "No tutor", item[0].lower()))


def days(first: date, last: date) -> Iterator[date]:
    current = first
    while current < last:
        yield current
        current += timedelta(days=1)
