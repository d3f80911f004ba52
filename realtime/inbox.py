"""A person's notifications: the unread count behind the bell, and marking them read.

The count is shown on every admin page (the bell, a sidebar badge), so it is cached for a short
while per person; marking read forgets it after commit, so the bell is right on the next page.
New notifications are not waited for: the realtime client updates the bell as they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from realtime.models import Notification

UNREAD_TTL = 30  # seconds


def _unread_key(user_id: int) -> str:
    return f"realtime:unread:{user_id}"


def unread_count(user_id: int) -> int:
    """Unread notifications of one person; one indexed COUNT at most every ``UNREAD_TTL`` seconds."""
    key = _unread_key(user_id)
    count = cache.get(key)
    if count is None:
        count = Notification.objects.filter(recipient_id=user_id, read=False).count()
        cache.set(key, count, UNREAD_TTL)
    return count


def forget_unread(user_id: int) -> None:
    """Drop the cached count (call after commit when someone's notifications were read elsewhere)."""
    cache.delete(_unread_key(user_id))


def forget_unread_many(user_ids: Iterable[int]) -> None:
    """Drop the cached counts of several people (after commit: new notifications were stored for them)."""
    keys = [_unread_key(user_id) for user_id in user_ids]
    if keys:
        cache.delete_many(keys)


def mark_all_read(*, user_id: int) -> int:
    """Mark every unread notification of the person read; returns how many changed."""
    return mark_read(Notification.objects.filter(recipient_id=user_id), user_id=user_id)


def mark_read(notifications: QuerySet[Notification], *, user_id: int) -> int:
    """Mark the person's own unread ones among ``notifications`` read; returns how many changed.

    Only the recipient reads a notification: a superuser looking at someone else's leaves it unread.
    """
    with transaction.atomic():
        count = notifications.filter(recipient_id=user_id, read=False).update(read=True, read_at=timezone.now())
        transaction.on_commit(lambda: forget_unread(user_id))
    return count


def refresh_unread(user_id: int) -> int:
    """Count the person's unread notifications now and keep the figure for the bell: the API
    answers the exact count, and the admin shows the same one on its next page."""
    count = Notification.objects.filter(recipient_id=user_id, read=False).count()
    cache.set(_unread_key(user_id), count, UNREAD_TTL)
    return count
