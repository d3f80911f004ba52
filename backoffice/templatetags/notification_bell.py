"""``{% notification_bell %}``: the bell in the admin header, with the person's unread count.

Rendered on the server (so it is right without JavaScript); ``id="sd-bell"`` and ``data-unread``
are what the realtime client updates as notifications arrive or are read.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from realtime import inbox

register = template.Library()


@register.inclusion_tag("admin/notification_bell.html", takes_context=True)
def notification_bell(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("realtime.view_notification"):
        return {"show": False}
    unread = inbox.unread_count(user.pk)
    # The recipient filter matters for a superuser, whose list holds everyone's notifications.
    link = f"{reverse('admin:realtime_notification_changelist')}?read__exact=0&recipient__id__exact={user.pk}"
    return {"show": True, "unread": unread, "link": link}
