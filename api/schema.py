"""The OpenAPI schema (drf-spectacular): every operation documents the errors it can answer.

``AutoSchema`` adds the error responses every endpoint of a kind can give (401 without a token,
400 for a body or query that does not validate, 415 for a body of a type it does not read, 404 for
a path that names nothing of the caller's, 429 where throttled, with ``Retry-After``), all in the
one ``Error`` shape; an
endpoint's own refusals (409 ``session_full`` ...) are listed in its ``extend_schema``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from drf_spectacular import openapi
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.utils import OpenApiResponse
from rest_framework import mixins, permissions, serializers


class JWTScheme(SimpleJWTScheme):
    """drf-spectacular's bearer scheme for simplejwt, for its subclass ``api.authentication.JWTAuthentication``."""

    target_class = "api.authentication.JWTAuthentication"


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable word for programs: invalid, not_found, session_full ...")
    detail = serializers.CharField(help_text="What went wrong, in a sentence for people.")
    fields = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Messages per request field (lists of strings); empty when the error is not about a field.",
    )

    class Meta:
        ref_name = "Error"


ERROR_DESCRIPTIONS = {
    400: "Bad input: `invalid`, the messages per field in `fields`.",
    401: "No valid access token: `not_authenticated`.",
    403: "Not open to this account's role: `forbidden`.",
    404: "Nothing of yours here: `not_found` (another person's objects too).",
    409: "Conflict.",
    415: "A body of a type this operation does not read (or no `Content-Type`): `unsupported_media_type`.",
    422: "Refused by the booking rules.",
    429: "Too many requests: `throttled`; retry after `Retry-After` seconds.",
    503: "A service it needs is unavailable: `unavailable`.",
}


def error(description: str) -> OpenApiResponse:
    """An endpoint's own error response, for ``extend_schema(responses={409: error("...")})``."""
    return OpenApiResponse(ErrorSerializer, description=description)


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        ref = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        for status in sorted(self._error_statuses()):
            responses.setdefault(
                str(status),
                {
                    "description": ERROR_DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
                    "content": {"application/json": {"schema": ref}},
                },
            )
        if "429" in responses:
            responses["429"].setdefault("headers", {})["Retry-After"] = {
                "schema": {"type": "integer"},
                "description": "Seconds to wait before trying again.",
            }
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_statuses(self) -> set[int]:
        view = self.view
        statuses: set[int] = set()
        perms = [type(p) for p in view.get_permissions()]
        if permissions.AllowAny not in perms:
            statuses.add(401)
            if any(p is not permissions.IsAuthenticated for p in perms):
                statuses.add(403)
        is_list = self.method == "GET" and isinstance(view, mixins.ListModelMixin)
        if self.method in ("POST", "PUT", "PATCH") or getattr(view, "filterset_class", None) or is_list:
            statuses.add(400)
        if self.method in ("POST", "PUT", "PATCH"):
            statuses.add(415)  # DRF's parsers refuse any other Content-Type, a missing one too
        if "{" in self.path or is_list:  # an object of someone else's; a page past the last
            statuses.add(404)
        # A throttle may count only some methods (api.throttles.BookingChangeThrottle: not the reads).
        if any(getattr(t, "counts", lambda method, view: True)(self.method, view) for t in view.get_throttles()):
            statuses.add(429)
        return statuses
