"""The three callback URLs the providers are given. Each answers in its provider's own format only.

No session, cookie, CSRF token or login: a provider proves itself by its signature (Click) or its
key (Payme), checked before the database is read, and optionally by its address
(PAYMENT_ALLOWED_IPS). Nothing here reads ``request.session``, ``request.user`` or ``request.POST``,
so no middleware has a reason to set a cookie or parse a body, and the body is read only up to
PAYMENT_MAX_BODY_BYTES. Every call is logged: in the transaction that handled it when it reached
the database (``core.Call.store``), else on its own (``core.Call.log``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from bookings.models import PaymentProvider
from bookings.payments import click, payme
from bookings.payments.core import Call, address_allowed, client_address, read_body


@csrf_exempt
@never_cache
async def click_prepare(request: HttpRequest) -> JsonResponse:
    return await on_db_thread(request, _click, request, click.PREPARE)


@csrf_exempt
@never_cache
async def click_complete(request: HttpRequest) -> JsonResponse:
    return await on_db_thread(request, _click, request, click.COMPLETE)


@csrf_exempt
@never_cache
async def payme_endpoint(request: HttpRequest) -> JsonResponse:
    return await on_db_thread(request, _payme, request)


async def on_db_thread(request: HttpRequest, handler: Callable[..., JsonResponse], *args: Any) -> JsonResponse:
    """Run a callback's handler where its database connection outlives the request.

    Under daphne Django runs each request's synchronous code on a thread of its own, made for the
    request (its ThreadSensitiveContext), so a synchronous view opens a new PostgreSQL connection
    for every call and leaves it to the garbage collector (CONN_MAX_AGE keeps it in a thread that
    is gone): a backend started, and its catalog caches warmed, per callback -- most of a
    callback's cost (bench/payment_callbacks.py) -- and, under a provider's retry storm, more
    connections than PostgreSQL allows ("too many clients": -7 and -32400 answers). So on an
    ASGI server the handler runs on the server's long-lived worker threads (daphne's ASGI_THREADS
    pool), each keeping its connection between calls, checked and closed when stale or broken as
    Channels' consumers do (``DatabaseThread``). The test client's request is not an
    ASGI one: there the handler runs on the caller's thread, inside its transaction.
    """
    if isinstance(request, ASGIRequest):
        return await DatabaseThread(handler, thread_sensitive=False)(*args)
    return await sync_to_async(handler)(*args)


# A connection that answered a callback less than this long ago is not health-checked again.
CHECKED_WITHIN = 1.0  # seconds


class DatabaseThread(SyncToAsync):
    """Channels' ``database_sync_to_async``, its health check skipped for a connection in use.

    Channels closes old connections before and after the call (``close_old_connections``: a
    connection past its age, left in a transaction or after an error is closed, or checked and
    kept), and that resets Django's health check (CONN_HEALTH_CHECKS), so every callback began with
    a ``SELECT 1`` round trip. A connection that answered a callback within ``CHECKED_WITHIN``
    seconds is known to work as surely as the check would say (a connection pool's usual "alive
    bypass" window); one idle longer is checked, as before. A server that goes away between two
    calls of a burst fails the call in flight, as it would between the check and the statement:
    the connection is then closed (``errors_occurred``) and the provider's retry gets a new one.
    """

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        database = connections[DEFAULT_DB_ALIAS]
        if database.connection is not None and time.monotonic() - getattr(_used, "at", -math.inf) < CHECKED_WITHIN:
            database.health_check_done = True
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            close_old_connections()
            _used.at = time.monotonic() if database.connection is not None else -math.inf


_used = threading.local()  # when this thread's connection last answered a callback


def _click(request: HttpRequest, action: int) -> JsonResponse:
    address = client_address(request)
    if request.method != "POST" or not address_allowed(address):
        # Not a call Click makes: answered as Click's "error in request", nothing read.
        call = Call(
            provider=PaymentProvider.CLICK,
            action=click.ACTIONS[action],
            address=address,
            request={"method": request.method, "refused": "method or address"},
        )
        answer = {"error": -8, "error_note": click.NOTES[-8]}
    else:
        answer, call = click.handle(action, read_body(request), request.content_type or "", address=address)
    return _respond(answer, call, error=answer["error"] or None)


def _payme(request: HttpRequest) -> JsonResponse:
    address = client_address(request)
    if not address_allowed(address):
        call = Call(provider=PaymentProvider.PAYME, action="?", address=address, request={"refused": "address"})
        answer = {"jsonrpc": "2.0", "id": None, "error": payme.RPCError(-32504).as_json()}
    else:
        answer, call = payme.handle(
            method_allowed=request.method == "POST",
            authorization=request.headers.get("Authorization", ""),
            body=read_body(request) if request.method == "POST" else b"",
            address=address,
        )
    error = answer["error"]["code"] if "error" in answer else None
    return _respond(answer, call, error=error)


def _respond(answer: dict[str, Any], call: Call, *, error: int | None) -> JsonResponse:
    call.log(answer, error=error)
    # Always 200: Payme reads any other status as a system error, Click reads the ``error`` field.
    return JsonResponse(answer, json_dumps_params={"ensure_ascii": False})
