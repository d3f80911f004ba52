"""The page a locked-out login gets (django-axes' ``AXES_LOCKOUT_CALLABLE``)."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_client_username, get_cool_off
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

# 429 Too Many Requests: what it is, and what django-axes answers by default.
LOCKED_STATUS = 429


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """Render the lockout page in the back office's look.

    The credentials are read from the request: under ASGI, django-axes 8.3's middleware passes them
    in the ``original_response`` position (``get_lockout_response(request, credentials)``).
    """
    credentials = getattr(request, "axes_credentials", None) or (credentials if isinstance(credentials, dict) else None)
    username = get_client_username(request, credentials) or ""
    cool_off = get_cool_off(request)
    minutes = round(cool_off.total_seconds() / 60) if cool_off else 0
    who = f"“{username}”" if username else "this login"
    context = {
        **admin.site.each_context(request),
        "title": "Login locked",
        "message": f"Too many failed logins for {who} from your address.",
        "cooloff_minutes": minutes,
        "login_url": reverse("admin:login"),
    }
    return render(request, "admin/lockout.html", context, status=LOCKED_STATUS)
