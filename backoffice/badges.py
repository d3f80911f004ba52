"""Sidebar badges: a live count next to a link where the number asks someone to act.

Unfold calls these (``"badge": "backoffice.badges.<name>"`` in settings.UNFOLD) only for links
the person may see. The sidebar is on every admin page, so each count is one indexed COUNT,
cached for ``BADGE_TTL`` seconds per audience: the whole staff, or one tutor or person.
An empty string hides the badge (unfold shows nothing for a falsy value).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from django_q.models import Failure

from bookings.admin.base import sees_own_only
from bookings.models import Booking, BookingStatus, FeedbackRequest
from realtime import inbox

BADGE_TTL = 30  # seconds
EXPIRY_HORIZON = timedelta(hours=1)


def _cached(key: str, count: Callable[[], int]) -> int:
    value = cache.get(key)
    if value is None:
        value = count()
        cache.set(key, value, BADGE_TTL)
    return value


def _shown(count: int) -> str:
    return str(count) if count else ""


def _audience(request: HttpRequest) -> str:
    """Whose rows a count covers: a tutor's own, or everyone's for the people who run the centre."""
    return f"tutor:{request.user.pk}" if sees_own_only(request.user) else "staff"


def pending_expiring(request: HttpRequest) -> str:
    """Unpaid bookings that lose their seat within the hour: the desk's call list (status, expires_at index)."""

    def count() -> int:
        bookings = Booking.objects.filter(status=BookingStatus.PENDING, expires_at__lte=timezone.now() + EXPIRY_HORIZON)
        if sees_own_only(request.user):
            bookings = bookings.filter(session__tutor__user=request.user)
        return bookings.count()

    return _shown(_cached(f"badge:expiring:{_audience(request)}", count))


def open_feedback(request: HttpRequest) -> str:
    """A tutor's submissions to review; for staff, the ones nobody was assigned yet ((tutor, completed) index)."""

    def count() -> int:
        if sees_own_only(request.user):
            return FeedbackRequest.objects.filter(tutor__user=request.user, completed=False).count()
        return FeedbackRequest.objects.filter(tutor__isnull=True, completed=False).count()

    return _shown(_cached(f"badge:feedback:{_audience(request)}", count))


def unread_notifications(request: HttpRequest) -> str:
    return _shown(inbox.unread_count(request.user.pk))


def failed_tasks(request: HttpRequest) -> str:
    """Background jobs that failed. django-q2 keeps failures until someone deletes them, so the
    table stays small next to the successes it prunes (Q_CLUSTER save_limit)."""
    return _shown(_cached("badge:failed-tasks", Failure.objects.count))
