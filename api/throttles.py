"""Throttles of the sign-in endpoints: per phone (or login) and per address, counted in the cache.

The cache is Redis in production, shared by every process (settings.CACHES), so the counts hold
across daphne processes. It fails soft (backoffice.cache): while Redis is down the counts lapse
rather than every sign-in being refused; the code's own limits (api.otp: one code a minute,
five tries) are in the database and hold regardless.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

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
