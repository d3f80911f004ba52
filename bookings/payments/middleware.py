"""The providers' callback URLs, answered before the back office's own middleware.

Click and Payme carry no session, cookie, CSRF token or login (``views``): sessions, CSRF, login,
messages, frame and CSP headers, the login lockout and static files have nothing to do for them.
Under daphne each of those middlewares costs thread hops (``MiddlewareMixin`` runs
``process_request``/``process_response`` through ``sync_to_async``): about 30 per request, most of
a refused callback's cost (bench/payment_callbacks.py). Placed after the probes in
settings.MIDDLEWARE, this answers the URLs of ``bookings.payments.urls`` itself and passes every
other request on. The URLs stay defined once, in ``urls.py``: this resolves them.

It answers them on daphne's event loop with no thread hop: a callback's one hop is its view's, to
its database thread (``views.on_db_thread``). So it is asynchronous only. Django gives a middleware
that can run either way the mode of the one below it, and below this one is synchronous (WhiteNoise
can run no other way): as a sync-and-async middleware this ran synchronously, and with it every
middleware above it, so a callback went to a thread made for the request and came back to the loop
for its view (``async_to_sync``): two hops more. Above this one only the probes run
(``backoffice.health``, sync-and-async, so on the loop too); every other request takes its hop to a
thread here, into the synchronous middleware below (Django's ``sync_to_async``), instead of at the
top: the same hops as before. The test client is synchronous: there Django runs this chain in
``async_to_sync``, and the middleware below on the test's own thread.

A callback still gets what the two middlewares after this one give every request, in their order:
Django's ``SecurityMiddleware`` (the https redirect, HSTS and the other security headers) and the
NUL-byte guard (``backoffice.nul_bytes``), applied here around the view. They stay in
settings.MIDDLEWARE for everything else (and for ``check --deploy``, which looks for Django's
``SecurityMiddleware`` there). On the loop Django would run a ``MiddlewareMixin`` such as
``SecurityMiddleware`` with a thread hop per hook; its two hooks read settings and the request and
set headers, no I/O, so here they are called directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve, reverse
from django.utils.decorators import async_only_middleware

from backoffice.nul_bytes import nul_byte_guard

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


async def _call_view(request: HttpRequest) -> HttpResponse:
    return await request.resolver_match.func(request)


def _secured(get_response: Callable[[HttpRequest], Awaitable[HttpResponse]]) -> Callable[..., Awaitable[HttpResponse]]:
    """Django's ``SecurityMiddleware`` around ``get_response``, its hooks called on the event loop, in
    the order ``MiddlewareMixin`` calls them."""
    security = SecurityMiddleware(get_response)

    async def secure(request: HttpRequest) -> HttpResponse:
        response = security.process_request(request)
        if response is None:
            response = await get_response(request)
        return security.process_response(request, response)

    return secure


@async_only_middleware
def payment_callbacks(
    get_response: Callable[[HttpRequest], Awaitable[HttpResponse]],
) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
    # As settings.MIDDLEWARE nests them: an exception below the security middleware is a response
    # (Django's 500) by the time its headers are set.
    callback = _secured(convert_exception_to_response(nul_byte_guard(_call_view)))

    async def answer(request: HttpRequest) -> HttpResponse:
        if callback_view(request) is None:
            return await get_response(request)
        return await callback(request)

    return answer
