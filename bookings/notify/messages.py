"""What a reminder says, in the reader's time zone: the centre's for students, the tutor's for tutors.

Times are formatted here, in Python, and handed to the templates as text: a datetime given to a
template would be converted back to the active (centre) time zone by Django.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Set
from datetime import datetime, tzinfo
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from bookings.models import Reminder
from bookings.notify.sms import SMSMessage
from realtime.events import Event, student_group, tutor_group

# The kind of the reminder to pay a pending booking; the others are offsets before the start.
PAYMENT_KIND = "payment"


def centre_zone() -> tzinfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def long_time(value: datetime, zone: tzinfo) -> str:
    local = value.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M}"


def short_time(value: datetime, zone: tzinfo) -> str:
    local = value.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def until(start: datetime, now: datetime) -> str:
    """ "in 24 hours", "in 1 hour", "in 15 minutes": how far the start is when the reminder goes out."""
    minutes = max(round((start - now).total_seconds() / 60), 0)
    if minutes >= 90:
        return f"in {round(minutes / 60)} hours"
    if minutes >= 60:
        return "in 1 hour"
    return f"in {minutes} minute{'' if minutes == 1 else 's'}"


def _context(reminder: Reminder, now: datetime) -> dict[str, Any]:
    booking = reminder.booking
    session = booking.session
    zone = centre_zone()
    person = reminder.recipient
    return {
        "name": person.get_full_name() or person.email or person.phone,
        "reference": booking.reference,
        "product": session.product.name,
        "starts_at": long_time(session.starts_at, zone),
        "starts_short": short_time(session.starts_at, zone),
        "until": until(session.starts_at, now),
        "room": session.room,
        "tutor": str(session.tutor) if session.tutor_id else "",
        "time_zone": settings.TIME_ZONE,
        "amount": f"{booking.price:,.0f} {booking.currency}",
        "deadline": long_time(booking.expires_at, zone) if booking.expires_at else "",
        "deadline_short": short_time(booking.expires_at, zone) if booking.expires_at else "",
    }


def email_for(reminder: Reminder, now: datetime) -> EmailMessage:
    context = _context(reminder, now)
    if reminder.kind == PAYMENT_KIND:
        subject = f"Booking {context['reference']} is not paid yet"
        template = "email/payment_reminder.txt"
    else:
        subject = f"Reminder: {context['product']} {context['until']} ({context['starts_short']})"
        template = "email/reminder.txt"
    return EmailMessage(subject=subject, body=render_to_string(template, context), to=[reminder.recipient.email])


def sms_for(reminder: Reminder, now: datetime) -> SMSMessage:
    c = _context(reminder, now)
    if reminder.kind == PAYMENT_KIND:
        body = (
            f"Seatdesk: booking {c['reference']} ({c['product']}, {c['starts_short']}) is not paid. "
            f"Pay {c['amount']} by {c['deadline_short']} or the seat is released."
        )
    else:
        body = f"Seatdesk: {c['product']} {c['until']}, {c['starts_short']}. Booking {c['reference']}."
    return SMSMessage(to=str(reminder.recipient.phone), body=body)


def push_event_for(reminder: Reminder, now: datetime, *, app_users: Set[int] = frozenset()) -> Event:
    """The booking.reminder event of a push reminder (the tutor's, or for a session without a
    tutor the student's own), timed in the tutor's zone, else the centre's.

    The booking's student hears it too (their app's socket), and finds it among their notifications
    when they use the app (``app_users``: ``selectors.app_users`` of the batch's students): the time
    is labelled with its zone, and ``starts_at`` is there for an app to show in its own.
    """
    booking = reminder.booking
    session = booking.session
    zone = session.tutor.tzinfo if session.tutor_id else centre_zone()
    data = {
        "booking": booking.pk,
        "reference": booking.reference,
        "session": session.pk,
        "reminder": reminder.pk,
        "kind": reminder.kind,
        "starts_at": session.starts_at.isoformat(),
        "local_time": short_time(session.starts_at, zone),
        "time_zone": str(zone),
        "summary": (
            f"{session.product.name} {until(session.starts_at, now)}: "
            f"{short_time(session.starts_at, zone)} ({zone}) · {booking.reference}"
        ),
    }
    student = booking.student_id
    reads = [student] if student in app_users else []
    if reminder.recipient_id == student:  # a push reminder of the student's own
        return ("booking.reminder", data, [student_group(student)], reads)
    groups = [tutor_group(reminder.recipient_id), student_group(student)]
    return ("booking.reminder", data, groups, [reminder.recipient_id, *reads])
