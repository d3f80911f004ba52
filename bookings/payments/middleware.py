"""The providers' callback URLs, answered before the back office's own middleware.

Click and Payme carry no session, cookie, CSRF token or login (``views``): sessions, CSRF, login,
messages, frame and CSP headers, the login lockout and static files have nothing to do for them.
Under daphne each of those middlewares costs thread hops (``MiddlewareMixin`` runs
``process_request``/``process_response`` through ``sync_to_async``): about 30 per request, most of
a refused callback's cost (bench/payment_callbacks.py). Placed after the security headers and the
NUL-byte guard in settings.MIDDLEWARE, this answers the URLs of ``bookings.payments.urls`` itself
and passes every other request on. The URLs stay defined once, in ``urls.py``: this resolves them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from inspect import iscoroutinefunction
from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.decorators import sync_and_async_middleware

NAMESPACE = "payments"


@cache
def prefix() -> str:
    """``/payments/``: where the callback URLs are mounted (backoffice.urls)."""
    return reverse(f"{NAMESPACE}:payme").rstrip("/").rsplit("/", 1)[0] + "/"


def callback_view(request: HttpRequest) -> Callable[..., Any] | None:
    """The callback view this request is for, or None for any other request."""
    if not request.path_info.startswith(prefix()):
        return None
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    if match.namespace != NAMESPACE:
        return None
    request.resolver_match = match
    return match.func


@sync_and_async_middleware
def payment_callbacks(
    get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]],
) -> Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]:
    if iscoroutinefunction(get_response):

        async def answer_async(request: HttpRequest) -> HttpResponse:
            view = callback_view(request)
            if view is None:
                return await get_response(request)
            return await view(request)

        return answer_async

    def answer(request: HttpRequest) -> HttpResponse:
        view = callback_view(request)
        if view is None:
            return get_response(request)
        return async_to_sync(view)(request)

    return answer
