"""The tutor workspace: what a tutor sees on the dashboard instead of the centre's figures.

Their own day first (in their time zone, with the centre's clock beside it when the two differ),
then the week ahead, the bookings on their coming sessions, the feedback waiting for them,
their unread notifications and their private calendar feed. Everything is scoped to the tutor
and costs the same few queries however busy the week is: the tutor with both counts, the
sessions, a page of bookings, a page of feedback, and the (cached) unread count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from bookings.admin.base import BOOKING_STATUS_COLOURS, SESSION_STATUS_COLOURS, badge
from bookings.calendar_feed import calendar_url
from bookings.models import SEAT_HOLDING, Booking, FeedbackRequest, Session, SessionStatus, Tutor
from bookings.selectors import with_seat_counts
from bookings.templatetags.seats import session_seats_html
from realtime import inbox

WEEK_DAYS = 7
SESSION_LIMIT = 100  # a full week of one-hour lessons is ~60; the list links on to the sessions page
LIST_LIMIT = 10  # bookings and feedback: the next ones, with a link to all of them


@dataclass(frozen=True)
class Table:
    """Rows for unfold's table component (``unfold/components/table.html``)."""

    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Workspace:
    tutor: Tutor
    today: date
    timezone_name: str
    centre_timezone_name: str
    today_sessions: Table
    week_sessions: Table
    bookings: Table
    bookings_total: int
    bookings_link: str
    feedback: Table
    feedback_open: int
    feedback_link: str
    unread: int
    notifications_link: str
    calendar_url: str

    @property
    def today_count(self) -> int:
        return len(self.today_sessions.rows)

    @property
    def shows_centre_time(self) -> bool:
        return self.timezone_name != self.centre_timezone_name


def workspace_context(request: HttpRequest) -> dict[str, Any]:
    """Context for ``admin/workspace.html``; ``tutor_workspace`` is None for a tutor without a profile."""
    now = timezone.now()
    tutor = _tutor_with_counts(request.user, now)
    return {
        "title": "My workspace",
        "tutor_workspace": _workspace(tutor, now, request) if tutor is not None else None,
    }


def _tutor_with_counts(user: Any, now: datetime) -> Tutor | None:
    open_bookings = (
        Booking.objects.filter(session__tutor=OuterRef("pk"), status__in=SEAT_HOLDING, session__ends_at__gt=now)
        .order_by()
        .values("session__tutor")
        .annotate(n=Count("pk"))
        .values("n")
    )
    open_feedback = (
        FeedbackRequest.objects.filter(tutor=OuterRef("pk"), completed=False)
        .order_by()
        .values("tutor")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Tutor.objects.filter(user=user)
        .annotate(
            bookings_total=Coalesce(Subquery(open_bookings), Value(0), output_field=IntegerField()),
            feedback_open=Coalesce(Subquery(open_feedback), Value(0), output_field=IntegerField()),
        )
        .first()
    )


def _workspace(tutor: Tutor, now: datetime, request: HttpRequest) -> Workspace:
    tz = tutor.tzinfo
    centre = timezone.get_default_timezone()
    today = now.astimezone(tz).date()
    # Local midnights, so "today" is the tutor's day even when the centre's has already turned.
    day_start = datetime.combine(today, time.min, tzinfo=tz)
    week_end = datetime.combine(today + timedelta(days=WEEK_DAYS + 1), time.min, tzinfo=tz)
    sessions = list(
        with_seat_counts(Session.objects.filter(tutor=tutor, starts_at__gte=day_start, starts_at__lt=week_end))
        .exclude(status=SessionStatus.CANCELLED)
        .select_related("product")
        .order_by("starts_at", "pk")[:SESSION_LIMIT]
    )
    todays = [s for s in sessions if s.starts_at.astimezone(tz).date() == today]
    coming = [s for s in sessions if s.starts_at.astimezone(tz).date() != today]

    bookings = list(
        Booking.objects.filter(session__tutor=tutor, status__in=SEAT_HOLDING, session__ends_at__gt=now)
        .select_related("student", "session__product")
        .order_by("session__starts_at", "pk")[:LIST_LIMIT]
    )
    feedback = list(
        FeedbackRequest.objects.filter(tutor=tutor, completed=False)
        .select_related("student")
        .order_by("created_at", "pk")[:LIST_LIMIT]  # the longest waiting first
    )
    notifications = reverse("admin:realtime_notification_changelist")
    return Workspace(
        tutor=tutor,
        today=today,
        timezone_name=tutor.timezone,
        centre_timezone_name=str(centre),
        today_sessions=_session_table(todays, tz, centre, now, with_day=False),
        week_sessions=_session_table(coming, tz, centre, now, with_day=True),
        bookings=_booking_table(bookings, tz, centre),
        bookings_total=tutor.bookings_total,
        bookings_link=reverse("admin:bookings_booking_changelist") + "?status__in=pending,confirmed",
        feedback=_feedback_table(feedback, tz),
        feedback_open=tutor.feedback_open,
        feedback_link=reverse("admin:bookings_feedbackrequest_changelist") + "?completed__exact=0",
        unread=inbox.unread_count(tutor.user_id),
        notifications_link=f"{notifications}?read__exact=0&recipient__id__exact={tutor.user_id}",
        calendar_url=calendar_url(tutor, request),
    )


# --- Cells ---------------------------------------------------------------------------------------


def _when(starts_at: datetime, ends_at: datetime, tz: tzinfo, centre: tzinfo, *, with_day: bool) -> SafeString:
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    text = f"{start:%a %d %b} {start:%H:%M}–{end:%H:%M}" if with_day else f"{start:%H:%M}–{end:%H:%M}"
    at_centre = starts_at.astimezone(centre)
    if at_centre.utcoffset() == start.utcoffset():
        return format_html('<span class="whitespace-nowrap">{}</span>', text)
    return format_html(
        '<span class="whitespace-nowrap">{}</span> <span class="text-subtle text-xs whitespace-nowrap">'
        "(centre {})</span>",
        text,
        f"{at_centre:%H:%M}",
    )


def _label(text: str, variant: str | None) -> str:
    return badge(text, variant, size="md")


def _link(url: str, text: str) -> SafeString:
    return format_html('<a href="{}" class="font-medium text-primary-600 dark:text-primary-500">{}</a>', url, text)


def _session_table(sessions: list[Session], tz: tzinfo, centre: tzinfo, now: datetime, *, with_day: bool) -> Table:
    bookings = reverse("admin:bookings_booking_changelist")
    rows = [
        [
            _when(s.starts_at, s.ends_at, tz, centre, with_day=with_day),
            s.product.name,
            s.room or "—",
            # The one seats notation; the realtime client updates it live (earlier today: attendance).
            session_seats_html(s, now=now),
            _label(s.get_status_display(), SESSION_STATUS_COLOURS.get(s.status)),
            format_html(
                '<span class="flex gap-3 whitespace-nowrap">{} {}</span>',
                _link(reverse("admin:bookings_session_change", args=[s.pk]), "Session"),
                _link(f"{bookings}?session__id__exact={s.pk}", "Bookings"),
            ),
        ]
        for s in sessions
    ]
    return Table(headers=["Time", "Product", "Room", "Seats", "Status", ""], rows=rows)


def _booking_table(bookings: list[Booking], tz: tzinfo, centre: tzinfo) -> Table:
    rows = [
        [
            _link(reverse("admin:bookings_booking_change", args=[b.pk]), b.reference),
            str(b.student),
            format_html(
                "{}<br>{}",
                b.session.product.name,
                _when(b.session.starts_at, b.session.ends_at, tz, centre, with_day=True),
            ),
            _label(b.get_status_display(), BOOKING_STATUS_COLOURS.get(b.status)),
            b.time_left_display or "—",
        ]
        for b in bookings
    ]
    return Table(headers=["Booking", "Student", "Session", "Status", "Pays within"], rows=rows)


def _feedback_table(requests: list[FeedbackRequest], tz: tzinfo) -> Table:
    rows = [
        [
            f"{r.created_at.astimezone(tz):%d %b %H:%M}",
            str(r.student),
            r.get_kind_display(),
            Truncator(r.task).chars(60) or "—",
            _link(reverse("admin:bookings_feedbackrequest_change", args=[r.pk]), "Review"),
        ]
        for r in requests
    ]
    return Table(headers=["Submitted", "Student", "Kind", "Task", ""], rows=rows)
