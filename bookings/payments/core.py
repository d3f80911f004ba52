"""What the Click and Payme callbacks share: times, the booking a callback names, who may pay it,
the caller's address, the body limit, and the log of every call.

Nothing here knows a provider's field names or error codes; ``click.py`` and ``payme.py`` do.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from bookings.models import (
    Booking,
    Payment,
    PaymentLog,
)
from bookings.services.online import CALLBACK_RELATED, lock_booking, locked_payment
from bookings.services.writes import insert

logger = logging.getLogger("bookings.payments")

# Payme cancels a created transaction that was not performed within 12 hours of its own ``time``
# (Merchant API, CreateTransaction: "43 200 000 milliseconds", then state -1 with reason 4).
PAYME_TIMEOUT_MS = 43_200_000
# Click documents no limit between Prepare and Complete: Complete follows within the minutes the
# payer needs to confirm the card (an SMS code). An hour covers that many times over, is what
# staff see as "stuck" (issue 15), and is short enough that a seat abandoned at Click's payment
# page goes back on sale the same hour.
CLICK_HOLD = timedelta(hours=1)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
REDACTED = "[redacted]"
# Keys whose values are never stored or logged: signatures, passwords, keys, the auth header.
SECRET_KEYS = frozenset({"sign_string", "password", "key", "secret", "secret_key", "authorization"})
LOG_TEXT_LIMIT = 2000
# A request nested deeper than this is cut there in the log: JSON parses far deeper nesting than a
# walk of it (or the database's JSON) can take, and the log row must always be writable.
LOG_DEPTH_LIMIT = 20
TOO_DEEP = "(nested deeper than 20 levels)"


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly (integer arithmetic: no float rounding)."""
    return (moment - EPOCH) // ONE_MS


def from_ms(ms: int) -> datetime:
    return EPOCH + ms * ONE_MS


def now_ms() -> int:
    return to_ms(timezone.now())


# --- The booking a callback names ------------------------------------------------------------------


def clean_reference(value: Any) -> str | None:
    """A booking reference as a callback may carry it, or None when it cannot be one.

    Checked before the database sees it: a NUL byte or a megabyte of text is "not found", not a
    database error. References are upper case (they are read out on the phone).
    """
    if not isinstance(value, str):
        return None
    reference = value.strip().upper()
    limit = Booking._meta.get_field("reference").max_length
    if not reference or len(reference) > limit or not reference.isalnum() or not reference.isascii():
        return None
    return reference


def find_booking(reference: str | None) -> Booking | None:
    """The booking with its session (``CALLBACK_RELATED``), its row locked for the rest of the
    transaction (see bookings.services.online), in one statement built once (``online.lock_booking``).
    Product, tutor and student load only on the rare paths that need them."""
    if reference is None:
        return None
    return lock_booking(reference=reference)


def attempt_of(payment: Payment, booking: Booking) -> Payment | None:
    """``payment`` if it is an attempt of ``booking`` -- the booking a provider's call names, its row
    locked (``find_booking``) -- with ``payment.booking`` the booking it is on, locked; else None.

    A reschedule moves a booking's payments to the new booking (online attempts still pending
    included) while the provider keeps the reference the attempt was started with. An attempt
    started for ``booking`` (its ``provider_account``) and moved since is returned with the booking
    it is on now locked (``locked_payment``): it is answered and paid there.
    """
    if payment.booking_id == booking.pk:
        payment.booking = booking
        return payment
    if payment.provider_account != booking.reference:
        return None
    return locked_payment(Payment.objects.filter(pk=payment.pk), related=CALLBACK_RELATED)


def in_soums(tiyin: int) -> Decimal:
    return Decimal(tiyin) / 100


def in_tiyin(soums: Decimal) -> Decimal:
    return soums * 100


# --- The caller and the body -----------------------------------------------------------------------


def client_address(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or the header a proxy we run sets (PAYMENT_CLIENT_IP_HEADER).

    Of an X-Forwarded-For list only the last address counts: the one our proxy appended. The ones
    before it are whatever the caller sent.
    """
    header = settings.PAYMENT_CLIENT_IP_HEADER
    if header:
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        return value.rsplit(",", 1)[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def address_allowed(address: str) -> bool:
    allowed = tuple(settings.PAYMENT_ALLOWED_IPS)
    if not allowed:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(allowed))


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(network, strict=False) for network in allowed)


def read_body(request: HttpRequest) -> bytes | None:
    """The request body, or None when it is over ``PAYMENT_MAX_BODY_BYTES`` (not read past the limit)."""
    limit = settings.PAYMENT_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


# --- The log -----------------------------------------------------------------------------------------


def redact(value: Any, depth: int = 0) -> Any:
    """``value`` fit to store: secrets replaced, text cut short and free of NUL bytes and lone
    surrogates (PostgreSQL refuses the first, UTF-8 cannot encode the second), numbers JSON can
    hold, nesting cut at ``LOG_DEPTH_LIMIT`` levels. A log row that cannot be written would fail
    the call it records (it commits with it)."""
    if isinstance(value, dict | list) and depth >= LOG_DEPTH_LIMIT:
        return TOO_DEEP
    if isinstance(value, dict):
        return {
            _text(str(key)): REDACTED if str(key).lower() in SECRET_KEYS else redact(item, depth + 1)
            for key, item in list(value.items())[:100]
        }
    if isinstance(value, list):
        return [redact(item, depth + 1) for item in value[:100]]
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return str(value)[:LOG_TEXT_LIMIT]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _text(str(value))


def _text(value: str) -> str:
    text = value[:LOG_TEXT_LIMIT].replace("\x00", "\ufffd")
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def raw_text(body: bytes) -> dict[str, str]:
    """A body that could not be read as the provider's format, for the log."""
    return {"raw": _text(body.decode("utf-8", errors="replace"))}


def log_call(
    *,
    provider: str,
    action: str,
    address: str,
    request: Any,
    response: dict[str, Any],
    error: int | None,
    payment_id: int | None = None,
    reference: str = "",
) -> None:
    """One line in the process log and one PaymentLog row per call, on its own (outside any
    transaction that handled it); a failure to log never fails the call."""
    call = Call(
        provider=provider, action=action, address=address, request=request, reference=reference, payment_id=payment_id
    )
    call.log(response, error=error)


def store_log(call: Call, response: dict[str, Any], *, error: int | None) -> None:
    """The call's PaymentLog row; raises when it cannot be written."""
    row = PaymentLog(
        provider=call.provider,
        action=_text(call.action)[:40],
        payment_id=call.payment_id,
        booking_reference=_text(call.reference)[:64],
        remote_addr=_text(call.address)[:64],
        request=redact(call.request),
        response=redact(response),
        error=error,
    )
    insert([row])


@dataclass
class Call:
    """What one callback did, for the answer and the log."""

    provider: str
    action: str
    address: str = ""
    request: Any = None
    reference: str = ""
    payment_id: int | None = None
    logged: bool = False  # its PaymentLog row is written (``store``)
    extra: dict[str, Any] = field(default_factory=dict)

    def store(self, response: dict[str, Any], *, error: int | None) -> None:
        """Write the call's PaymentLog row as the last statement of the transaction that handled it:
        the money and its record commit together. If it cannot be written, it raises and that
        transaction rolls back; the caller answers a system error and logs that on its own."""
        store_log(self, response, error=error)
        self.logged = True

    def failed(self) -> None:
        """The call's transaction rolled back: nothing of it is stored, its log row neither."""
        self.payment_id, self.logged = None, False

    def log(self, response: dict[str, Any], *, error: int | None) -> None:
        """One line in the process log per call, and its PaymentLog row unless the transaction that
        handled it stored it already (``store``); a failure to log never fails the call."""
        logger.info(
            "%s %s from %s: booking %s, payment %s, answered %s",
            self.provider,
            self.action,
            self.address or "?",
            self.reference or "-",
            self.payment_id or "-",
            "ok" if error is None else error,
        )
        if self.logged:
            return
        try:
            store_log(self, response, error=error)
        except Exception:
            logger.exception("Could not store the log of a %s %s call", self.provider, self.action)
