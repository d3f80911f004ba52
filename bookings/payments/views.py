"""The three callback URLs the providers are given. Each answers in its provider's own format only.

No session, cookie, CSRF token or login: a provider proves itself by its signature (Click) or its
key (Payme), checked before the database is read, and optionally by its address
(PAYMENT_ALLOWED_IPS). Nothing here reads ``request.session``, ``request.user`` or ``request.POST``,
so no middleware has a reason to set a cookie or parse a body, and the body is read only up to
PAYMENT_MAX_BODY_BYTES. Every call is logged: in the transaction that handled it when it reached
the database (``core.Call.store``), else on its own (``core.Call.log``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.core.handlers.asgi import ASGIRequest
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
    Channels' consumers do (``database_sync_to_async``). The test client's request is not an
    ASGI one: there the handler runs on the caller's thread, inside its transaction.
    """
    if isinstance(request, ASGIRequest):
        return await database_sync_to_async(handler, thread_sensitive=False)(*args)
    return await sync_to_async(handler)(*args)


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
