"""The 403, 404 and 500 pages: in the back office's look, with a way home.

Staff get the admin's frame (sidebar and all) when it can be built; anyone else, and every 500,
gets the login page's frame, which needs no database. Under ``/api/`` the answer is the API's
error shape instead of a page (``{"code", "detail", "fields"}``), and under ``/payments/`` the
providers never see HTML either: their views answer in their own formats, so an unknown path there
is a plain 404.
"""

from __future__ import annotations

import logging
from copy import copy

from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse

logger = logging.getLogger(__name__)

PAGES = {
    403: ("Not allowed", "You do not have permission to open this page."),
    404: ("Page not found", "There is nothing at this address: it may have been deleted, or the link is wrong."),
    500: ("Something went wrong", "The server could not answer. Nothing you entered was half-saved; please try again."),
}
API_CODES = {403: "permission_denied", 404: "not_found", 500: "server_error"}
PLAIN_500 = (
    "<!doctype html><title>Server error</title><h1>Something went wrong</h1>"
    '<p>The server could not answer. Please try again. <a href="/admin/">Back to the back office</a></p>'
)


def _answer(request: HttpRequest, status: int) -> HttpResponse:
    title, detail = PAGES[status]
    if request.path.startswith("/api/"):
        return JsonResponse({"code": API_CODES[status], "detail": detail, "fields": {}}, status=status)
    if request.path.startswith("/payments/"):
        return HttpResponse(title, status=status, content_type="text/plain; charset=utf-8")
    context = {"title": title, "detail": detail, "status": status, "home_url": reverse("admin:index")}
    user = getattr(request, "user", None)
    if status != 500 and user is not None and user.is_active and user.is_staff:
        context |= admin.site.each_context(request)
        return HttpResponse(render_to_string("errors/staff.html", context, request=request), status=status)
    # The login page's frame takes unfold's styles and colours from the site's context; built for an
    # anonymous visitor it reads nothing from the database, which a 500 may not be able to reach.
    visitor = copy(request)
    visitor.user = AnonymousUser()
    context = admin.site.each_context(visitor) | context
    return HttpResponse(render_to_string("errors/public.html", context, request=request), status=status)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    try:
        return _answer(request, 500)
    except Exception:  # the page must not fail the way the request did
        logger.exception("The 500 page could not be rendered")
        return HttpResponse(PLAIN_500, status=500)
