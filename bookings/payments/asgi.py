"""The providers' callback URLs on the ASGI server: answered by a handler of their own, on daphne's loop.

Click and Payme carry no session, cookie, CSRF token or login (``views``): sessions, CSRF, login,
messages, frame and CSP headers, the login lockout and static files have nothing to do for them.
On daphne every one of those middlewares costs thread hops (``MiddlewareMixin`` runs its hooks
through ``sync_to_async``), and so does Django's ASGI handler itself: a thread made for each request
(its ``ThreadSensitiveContext``) to send ``request_started``, another hop to close the response and
send ``request_finished``, a task listening for the client's disconnect. For a callback all of that
was most of its cost (bench/payment_callbacks.py).

So ``with_callbacks`` sits in front of Django's ASGI application (backoffice.asgi): a request for a
URL of ``bookings.payments.urls`` goes to ``CallbackHandler``, every other request to Django as
before. ``CallbackHandler`` is Django's ASGI handler doing only what a callback needs: it reads the
body (bounded by the server: ``backoffice.request_bodies``), builds Django's request, calls the view
on the event loop, and sends Django's response. A callback's one thread hop is its view's, to its
database thread (``views.on_db_thread``), which opens and checks its own connection as Channels'
consumers do: the signals' ``close_old_connections`` has nothing to do on the loop.

A callback still gets what settings.MIDDLEWARE gives every response, in its order: Django's
``SecurityMiddleware`` (the https redirect, HSTS and the other security headers) and the NUL-byte
guard (``backoffice.nul_bytes``), applied around the view, their hooks called on the loop (they
read settings and the request and set headers: no I/O). Its 4xx and 5xx are logged as Django logs
them.

A synchronous server (WSGI, Django's test client) has no such front: there the callback views are
reached through settings.MIDDLEWARE like any other, with no cost to the requests that are not
callbacks (an asynchronous middleware in that chain made every request of a synchronous server
cross to an event loop and back).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve, reverse
from django.utils.log import log_response

from backoffice.nul_bytes import nul_byte_guard

NAMESPACE = "payments"

ASGIApp = Callable[[dict[str, Any], Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]]


@cache
def prefix() -> str:
    """``/payments/``: where the callback URLs are mounted (backoffice.urls)."""
    return reverse(f"{NAMESPACE}:payme").rstrip("/").rsplit("/", 1)[0] + "/"


def is_callback(path_info: str) -> bool:
    """Whether ``path_info`` is one of the callback URLs (defined once, in ``bookings.payments.urls``)."""
    if not path_info.startswith(prefix()):
        return False
    try:
        return resolve(path_info).namespace == NAMESPACE
    except Resolver404:
        return False


def with_callbacks(application: ASGIApp) -> ASGIApp:
    """``application`` with the callback URLs answered by ``CallbackHandler`` in front of it."""
    callbacks = CallbackHandler()

    async def route(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and is_callback(_path_info(scope)):
            await callbacks(scope, receive, send)
        else:
            await application(scope, receive, send)

    return route


def _path_info(scope: dict[str, Any]) -> str:
    # As Django's ASGIRequest takes it: the path less the root path the server is mounted at.
    path, root = scope["path"], scope.get("root_path", "")
    return path.removeprefix(root) if root else path


class CallbackHandler(ASGIHandler):
    """Django's ASGI handler for the callback URLs: request in, view on the loop, response out."""

    def load_middleware(self, is_async: bool = False) -> None:
        # As settings.MIDDLEWARE nests them: an exception below the security middleware is a
        # response (Django's 500) by the time its headers are set.
        self.callback = _secured(convert_exception_to_response(nul_byte_guard(_call_view)))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:  # the client went away before its body arrived
            return
        try:
            request, response = self.create_request(scope, body_file)
            if request is not None:
                response = await self.callback(request)
            if response.status_code >= 400:
                log_response("%s: %s", response.reason_phrase, scope["path"], response=response, request=request)
            await self.send_response(response, send)
        finally:
            body_file.close()


async def _call_view(request: HttpRequest) -> HttpResponse:
    match = resolve(request.path_info)
    request.resolver_match = match
    return await match.func(request)


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
