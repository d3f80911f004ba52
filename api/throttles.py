"""Throttles of the sign-in endpoints (per phone or login, and per address) and of booking changes
(per user), counted in the cache.

The cache is Redis in production, shared by every process (settings.CACHES), so the counts hold
across daphne processes. It fails soft (backoffice.cache): while Redis is down the counts lapse
rather than every sign-in being refused; the code's own limits (api.otp: one code a minute,
five tries) are in the database and hold regardless.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

from backoffice.phones import normalize_phone


def digest(text: str) -> str:
    """A cache-key-safe stand-in for text as sent (spaces, any length)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def phone_key(value: Any) -> str | None:
    """The phone as stored (E.164) when it parses, else the text as sent: both are counted."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return normalize_phone(value)
    except ValidationError:
        return "raw:" + digest(value.strip())


class _PerAddress(SimpleRateThrottle):
    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class _PerPhone(SimpleRateThrottle):
    def identity(self, request: Request) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        return phone_key(data.get("phone"))

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        ident = self.identity(request)
        if ident is None:
            return None  # nothing to count: the view answers 400
        return self.cache_format % {"scope": self.scope, "ident": ident}


class OTPPhoneThrottle(_PerPhone):
    scope = "otp_phone"


class OTPAddressThrottle(_PerAddress):
    scope = "otp_address"


class TokenPhoneThrottle(_PerPhone):
    """Sign-in tries for one phone, or one username: a code is guessed at most this often."""

    scope = "token_phone"

    def identity(self, request: Request) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        username = data.get("username")
        if isinstance(username, str) and username.strip():
            return "login:" + digest(username.strip().lower())
        return phone_key(data.get("phone"))


class TokenAddressThrottle(_PerAddress):
    scope = "token_address"


class BookingChangeThrottle(UserRateThrottle):
    """Changes to a student's bookings, per user: book, cancel, reschedule, and the payment links.

    Counted in the shared cache like the sign-in throttles, so the limit holds across processes.
    Reads of the same views (``GET bookings/``) are not counted; a view whose GET is part of
    paying (``pay/``) says so with ``throttle_reads = True``.
    """

    scope = "booking_change"

    @staticmethod
    def counts(method: str, view: Any) -> bool:
        """Whether a ``method`` request to ``view`` is counted (the schema documents a 429 for it)."""
        return method not in SAFE_METHODS or getattr(view, "throttle_reads", False)

    def allow_request(self, request: Request, view: Any) -> bool:
        return super().allow_request(request, view) if self.counts(request.method, view) else True
