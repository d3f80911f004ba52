"""``Idempotency-Key`` on the POSTs that create or change bookings.

The same key with the same request within ``API_IDEMPOTENCY_HOURS`` gets the first answer again
(with ``Idempotent-Replayed: true``), whatever it was (201, or 409 ``session_full``); the same key
with another request is refused (422 ``idempotency_key_reused``); while the first request is still
running, 409 ``idempotency_in_flight``. Keys are per user.

The claim is a row with a unique (user, key), committed before the request runs: it holds across
processes and servers, where a cache lock could be lost. A request that fails with a server error
withdraws its claim, so the client can retry with the same key; a claim left by a process that died
is taken over after ``IN_FLIGHT_TIMEOUT``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ApiError
from api.models import IdempotencyKey, IdempotencyState

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
IN_FLIGHT_TIMEOUT = timedelta(minutes=2)
PURGE_BATCH = 10_000  # rows per DELETE of the hourly purge

PARAMETER = OpenApiParameter(
    HEADER,
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (a UUID) per intended change: a retry with the same key and body within 24 h "
        "gets the first answer again; the same key with another body is refused (422 "
        "`idempotency_key_reused`); while the first is still running, 409 `idempotency_in_flight`."
    ),
)

Handler = Callable[..., Response]


def idempotent(handler: Handler) -> Handler:
    """Decorate a view's ``post``: runs it at most once per ``Idempotency-Key``."""

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        claim = _claim(request, _valid_key(key))
        if isinstance(claim, Response):
            return claim
        try:
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                # The refusal the client gets (409, 422 ...) is the answer to remember; anything
                # handle_exception raises again is a server error, handled below.
                response = view.handle_exception(exc)
        except BaseException:
            IdempotencyKey.objects.filter(pk=claim.pk).delete()
            raise
        if response.status_code >= 500:
            IdempotencyKey.objects.filter(pk=claim.pk).delete()
        else:
            IdempotencyKey.objects.filter(pk=claim.pk).update(
                state=IdempotencyState.DONE,
                status_code=response.status_code,
                response=json.loads(JSONRenderer().render(response.data) or b"null"),
            )
        return response

    return wrapper


def lapsed(now: datetime) -> QuerySet[IdempotencyKey]:
    """The keys whose answer is no longer replayed: claimed ``API_IDEMPOTENCY_HOURS`` ago or more."""
    return IdempotencyKey.objects.filter(created_at__lte=now - timedelta(hours=settings.API_IDEMPOTENCY_HOURS))


def purge_lapsed(*, now: datetime | None = None, batch_size: int = PURGE_BATCH) -> int:
    """Delete every lapsed key, a batch per statement (short locks); returns how many went.

    Run hourly by ``bookings.tasks.purge_idempotency_keys``: a user who never posts again would
    otherwise keep their keys for ever. Safe twice or on two clusters at once: a row deleted by
    the other run is simply not counted here.
    """
    now = now or timezone.now()
    total = 0
    while True:
        batch = list(lapsed(now).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not batch:
            return total
        total += IdempotencyKey.objects.filter(pk__in=batch).delete()[0]


def _valid_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.",
            code="invalid",
            fields={HEADER: ["Not a valid key."]},
        )
    return key


def fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _claim(request: Request, key: str) -> IdempotencyKey | Response:
    """The new claim on ``key``, or the answer already given for it; raises 409/422 when neither."""
    now = timezone.now()
    user = request.user
    mark = fingerprint(request)
    # The user's lapsed keys go now (so a lapsed key can be claimed again); everyone else's with
    # the hourly purge (``purge_lapsed``).
    lapsed(now).filter(user=user).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(user=user, key=key, fingerprint=mark, created_at=now)
    except IntegrityError:
        pass
    existing = IdempotencyKey.objects.filter(user=user, key=key).first()
    if existing is not None and existing.fingerprint != mark:
        raise ApiError(
            f"This {HEADER} was used for another request: use a new key for a new request.",
            code="idempotency_key_reused",
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if existing is not None and existing.state == IdempotencyState.DONE:
        return Response(existing.response, status=existing.status_code, headers={REPLAYED_HEADER: "true"})
    if existing is not None and existing.created_at <= now - IN_FLIGHT_TIMEOUT:
        # Claimed by a process that never finished: the first to take it over runs the request.
        taken = IdempotencyKey.objects.filter(
            pk=existing.pk, state=IdempotencyState.IN_FLIGHT, created_at=existing.created_at
        ).update(created_at=now)
        if taken:
            existing.created_at = now
            return existing
    raise ApiError(
        f"A request with this {HEADER} is still being processed: wait for its answer.",
        code="idempotency_in_flight",
        status=status.HTTP_409_CONFLICT,
    )
