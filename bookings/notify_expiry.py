"""The e-mail a student gets when an unpaid booking expires."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from bookings.models import Booking, BookingStatus, CancelReason

logger = logging.getLogger(__name__)

# Bookings read, rendered and handed to the mail backend at a time, over one SMTP session: memory
# stays flat and the id list of each query short (SQLite caps a statement's parameters).
CHUNK = 500


def send_expiry_emails(booking_ids: Iterable[int]) -> int:
    """E-mail each student whose booking among ``booking_ids`` is expired; returns how many were sent.

    Runs after the expiry committed, so a mail server that is down loses the e-mails (logged) but
    never the expiry itself. Bookings without a student e-mail are skipped.
    """
    ids = sorted(booking_ids)
    if not ids:
        return 0
    sent = 0
    try:
        with get_connection() as connection:
            for start in range(0, len(ids), CHUNK):
                if messages := [_message(booking) for booking in _expired(ids[start : start + CHUNK])]:
                    sent += connection.send_messages(messages) or 0
    except Exception:
        logger.exception("Could not send every booking-expired e-mail (%d of up to %d sent)", sent, len(ids))
    return sent


def _expired(booking_ids: list[int]) -> QuerySet[Booking]:
    return (
        Booking.objects.select_related("session__product", "student")
        .filter(pk__in=booking_ids, status=BookingStatus.CANCELLED, cancel_reason=CancelReason.EXPIRED)
        .exclude(student__email="")
        .order_by("pk")
    )


def _message(booking: Booking) -> EmailMessage:
    student = booking.student
    context = {
        "name": student.get_full_name() or student.email,
        "reference": booking.reference,
        "product": booking.session.product.name,
        "starts_at": timezone.localtime(booking.session.starts_at),
        "deadline": timezone.localtime(booking.expires_at or booking.cancelled_at or timezone.now()),
        "time_zone": settings.TIME_ZONE,
    }
    return EmailMessage(
        subject=f"Booking {booking.reference} cancelled: not paid in time",
        body=render_to_string("email/booking_expired.txt", context),
        to=[student.email],
    )
