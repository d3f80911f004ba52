"""``{% notification_bell %}``: the bell in the admin header, with the person's unread count and menu.

Rendered on the server (so it is right without JavaScript: the bell is then a link to the unread
list); ``id="sd-bell"`` and every element carrying ``data-unread-count`` are what the realtime
client keeps up to date as notifications arrive or are read -- the bell, the sidebar badge and
the tutor workspace's card show one count. With JavaScript the bell opens a menu of the newest
notifications (fetched from ``data-menu`` when opened) with *Mark all read*.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone

from realtime import inbox

register = template.Library()


def _may_read(user: Any) -> bool:
    return user is not None and user.is_authenticated and user.has_perm("realtime.view_notification")


@register.inclusion_tag("admin/notification_bell.html", takes_context=True)
def notification_bell(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if not _may_read(user):
        return {"show": False}
    unread = inbox.unread_count(user.pk)
    # The recipient filter matters for a superuser, whose list holds everyone's notifications.
    link = f"{reverse('admin:realtime_notification_changelist')}?read__exact=0&recipient__id__exact={user.pk}"
    return {
        "show": True,
        "unread": unread,
        "link": link,
        "menu": reverse("admin:realtime_notification_bell"),
        "next": request.get_full_path(),
    }


@register.simple_tag(takes_context=True)
def unread_notifications(context: template.Context) -> int:
    """The person's unread count (the same cached figure the bell shows)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return inbox.unread_count(user.pk) if _may_read(user) else 0


@register.simple_tag
def current_time_zone() -> str:
    """The zone the server reads and shows times in for this request (labels the date-time inputs)."""
    return timezone.get_current_timezone_name()
