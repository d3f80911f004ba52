"""A tutor's private iCalendar (RFC 5545) feed: one event per session, for Google or Apple Calendar.

Each event names its seats as every page does (``bookings.selectors.session_seats``): seats left
before the start, attendance after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import icalendar
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from backoffice.models import User
from bookings.models import Booking, BookingStatus, Session, SessionStatus, Tutor
from bookings.selectors import session_seats, with_seat_counts

# Enough history to look back on a month; the future is what the tutor plans with.
PAST_DAYS = 30
FUTURE_DAYS = 120


def calendar_url(tutor: Tutor, request: HttpRequest | None = None) -> str:
    """The absolute address a calendar app subscribes to.

    ``SITE_URL`` when it is set (the public address behind a proxy); otherwise the address of the
    request the link is shown on, so the link works on whatever host and port the server runs.
    """
    path = reverse("tutor-calendar", args=[tutor.calendar_token])
    if settings.SITE_URL or request is None:
        return settings.SITE_URL + path
    return request.build_absolute_uri(path)


def tutor_calendar(tutor: Tutor, *, now: datetime | None = None, domain: str = "seatdesk") -> bytes:
    now = now or timezone.now()
    sessions = (
        with_seat_counts(
            Session.objects.filter(
                tutor=tutor,
                starts_at__gte=now - timedelta(days=PAST_DAYS),
                starts_at__lte=now + timedelta(days=FUTURE_DAYS),
            )
        )
        .select_related("product")
        .order_by("starts_at")
    )
    return _feed(sessions, name=f"Seatdesk · {tutor}", zone=tutor.timezone, now=now, domain=domain)


def student_calendar(student: User, *, now: datetime | None = None, domain: str = "seatdesk") -> bytes:
    """The sessions ``student`` holds a booking in (or attended, or missed), as ``tutor_calendar``."""
    now = now or timezone.now()
    held = (BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)
    sessions = (
        with_seat_counts(
            Session.objects.filter(
                pk__in=Booking.objects.filter(student=student, status__in=held).values("session_id"),
                starts_at__gte=now - timedelta(days=PAST_DAYS),
                starts_at__lte=now + timedelta(days=FUTURE_DAYS),
            )
        )
        .select_related("product")
        .order_by("starts_at")
    )
    return _feed(sessions, name="Seatdesk · my sessions", zone=settings.TIME_ZONE, now=now, domain=domain)


def _feed(sessions: Iterable[Session], *, name: str, zone: str, now: datetime, domain: str) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Seatdesk//Tutor calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", zone)
    # Ask subscribing apps to refresh hourly (Google ignores it and polls on its own schedule).
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    stamp = now.astimezone(UTC)
    for session in sessions:
        calendar.add_component(_event(session, now=now, stamp=stamp, domain=domain))
    return calendar.to_ical()


def _event(session: Session, *, now: datetime, stamp: datetime, domain: str) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", f"session-{session.pk}@{domain}")
    event.add("dtstamp", stamp)
    event.add("dtstart", session.starts_at.astimezone(UTC))
    event.add("dtend", session.ends_at.astimezone(UTC))
    cancelled = session.status == SessionStatus.CANCELLED
    seats = session_seats(session, now=now).text
    event.add("summary", f"Cancelled: {session.product.name}" if cancelled else f"{session.product.name} ({seats})")
    if session.room:
        event.add("location", session.room)
    event.add("description", f"{session.product.name}\nSeats: {seats}\nStatus: {session.get_status_display()}")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")
    return event
