"""A tutor's private iCalendar (RFC 5545) feed: one event per session, for Google or Apple Calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
from django.conf import settings
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from bookings.models import SEAT_HOLDING, BookingStatus, Session, SessionStatus, Tutor

# Enough history to look back on a month; the future is what the tutor plans with.
PAST_DAYS = 30
FUTURE_DAYS = 120
BOOKED = (*SEAT_HOLDING, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)


def calendar_url(tutor: Tutor) -> str:
    """The absolute address a calendar app subscribes to."""
    return settings.SITE_URL + reverse("tutor-calendar", args=[tutor.calendar_token])


def tutor_calendar(tutor: Tutor, *, now: datetime | None = None, domain: str = "seatdesk") -> bytes:
    now = now or timezone.now()
    sessions = (
        Session.objects.filter(
            tutor=tutor,
            starts_at__gte=now - timedelta(days=PAST_DAYS),
            starts_at__lte=now + timedelta(days=FUTURE_DAYS),
        )
        .select_related("product")
        .annotate(booked=Count("bookings", filter=Q(bookings__status__in=BOOKED)))
        .order_by("starts_at")
    )
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Seatdesk//Tutor calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Seatdesk · {tutor}")
    calendar.add("x-wr-timezone", tutor.timezone)
    # Ask subscribing apps to refresh hourly (Google ignores it and polls on its own schedule).
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    stamp = now.astimezone(UTC)
    for session in sessions:
        calendar.add_component(_event(session, stamp=stamp, domain=domain))
    return calendar.to_ical()


def _event(session: Session, *, stamp: datetime, domain: str) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", f"session-{session.pk}@{domain}")
    event.add("dtstamp", stamp)
    event.add("dtstart", session.starts_at.astimezone(UTC))
    event.add("dtend", session.ends_at.astimezone(UTC))
    cancelled = session.status == SessionStatus.CANCELLED
    booked = f"{session.booked}/{session.capacity} booked"
    event.add("summary", f"{'Cancelled: ' if cancelled else ''}{session.product.name} ({booked})")
    if session.room:
        event.add("location", session.room)
    event.add("description", f"{session.product.name}\n{booked}\nStatus: {session.get_status_display()}")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")
    return event
