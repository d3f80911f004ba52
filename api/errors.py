"""Every error the API answers, in one shape: ``{"code", "detail", "fields"}``.

``code`` is a stable word for programs (``session_full``, ``invalid``), ``detail`` a sentence for
people, ``fields`` the messages per request field (``{}`` when the error is not about one).
The booking services' refusals (``bookings.errors``) map to 409 and 422 here, once, for every view.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from bookings.errors import AlreadyBooked, BookingError, BookingNotAllowed, InvalidTransition, SessionFull
from bookings.services.schedule import SessionChangeRefused

# The code for an error that carries none of its own, by status.
CODES_BY_STATUS: dict[int, str] = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
    503: "unavailable",
}

# Domain refusals: (exception class, status, code), the most specific first. Views raise the
# services' exceptions as they come; a new kind is mapped by adding a row.
DOMAIN_ERRORS: list[tuple[type[Exception], int, str]] = [
    (SessionFull, status.HTTP_409_CONFLICT, "session_full"),
    (AlreadyBooked, status.HTTP_409_CONFLICT, "already_booked"),
    (InvalidTransition, status.HTTP_422_UNPROCESSABLE_ENTITY, "invalid_transition"),
    # A session edit the schedule refuses (tutor busy, in the past ...): ``fields`` names the field.
    (SessionChangeRefused, status.HTTP_422_UNPROCESSABLE_ENTITY, "session_change_refused"),
    (BookingNotAllowed, status.HTTP_422_UNPROCESSABLE_ENTITY, "booking_not_allowed"),
    (BookingError, status.HTTP_422_UNPROCESSABLE_ENTITY, "booking_not_allowed"),
]

NOT_FOUND = "Not found."


class ApiError(exceptions.APIException):
    """A refusal of the API's own, with its code: ``raise ApiError("...", code="x", status=409)``."""

    def __init__(
        self,
        detail: str,
        *,
        code: str,
        status: int = status.HTTP_400_BAD_REQUEST,
        fields: Mapping[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail, code)
        self.status_code = status
        self.error_code = code
        self.fields = dict(fields or {})
        self.wait = retry_after


def error_body(code: str, detail: str, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "detail": detail, "fields": dict(fields or {})}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (headers such as ``WWW-Authenticate``, ``Retry-After``), then our shape."""
    for kind, status_code, code in DOMAIN_ERRORS:
        if isinstance(exc, kind):
            message = getattr(exc, "message", str(exc))
            field = getattr(exc, "field", None)
            return Response(error_body(code, message, {field: [message]} if field else None), status=status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_messages(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(NOT_FOUND)  # never the model's name, nor whether the row exists
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: a 500, logged with its traceback
    if isinstance(exc, exceptions.Throttled | ApiError) and exc.wait:
        response["Retry-After"] = str(max(math.ceil(exc.wait), 1))
    response.data = _shape(exc, response.status_code)
    return response


def _shape(exc: exceptions.APIException, status_code: int) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        return error_body(exc.error_code, str(exc.detail), exc.fields)
    code = CODES_BY_STATUS.get(status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return error_body(code, _first_message(fields), fields)
    detail = exc.detail
    if isinstance(detail, dict):  # simplejwt's InvalidToken: {"detail", "code", "messages"}
        detail = detail.get("detail", "")
    return error_body(code, str(detail))


def _first_message(fields: Mapping[str, Any]) -> str:
    for name, messages in fields.items():
        message = messages
        while isinstance(message, list | dict):
            if not message:
                break
            message = message[0] if isinstance(message, list) else next(iter(message.values()))
        if isinstance(message, str) and message:
            return message if name == "non_field_errors" else f"{name}: {message}"
    return "The request is not valid."


def _django_messages(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return {name: [m for e in errors for m in e.messages] for name, errors in exc.error_dict.items()}
    return list(exc.messages)


@csrf_exempt  # a POST to no endpoint is a 404 too, not the CSRF check's HTML 403 (the API uses no cookies)
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any path under /api/v1/ that names no endpoint: a 404 in the API's shape, not an HTML page."""
    return JsonResponse(error_body("not_found", NOT_FOUND), status=404)
