"""Click's Merchant API, which we call (the SHOP API in ``click.py`` is Click calling us): the reversal
of a paid Click payment, which is how a Click payment is refunded from the admin.

The contract (docs.click.uz "Merchant – Request"; Click LLC's PHP integration for the reversal):

- ``DELETE {CLICK_API_URL}/payment/reversal/{service_id}/{payment_id}``, no body, with the headers
  ``Accept: application/json``, ``Content-Type: application/json`` and
  ``Auth: <merchant_user_id>:<sha1(timestamp + secret_key)>:<timestamp>`` (UNIX seconds).
- The answer is JSON ``{"error_code": int, "error_note": str, "payment_id": int}``; the payment is
  reversed if and only if ``error_code`` is 0. Anything else -- a negative code (already reversed,
  outside the reversal window, refused by the card's bank), another HTTP status, no answer -- and
  nothing changed on our side.
- ``payment_id`` is Click's ``click_trans_id`` of the payment (what Complete carried), as iota-sdk's
  reversal does; Click's payment number (``click_paydoc_id``) is kept on the payment as well.

Only the whole payment is reversed. Click has a partial reversal too
(``payment/partial_reversal/{service_id}/{payment_id}/{amount}``), but how it wants the amount
written is not documented in the sources we have, so a partial refund of a Click payment is not
offered: refund it whole, or return part of it in cash at the desk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from bookings import services
from bookings.errors import BookingNotAllowed
from bookings.models import Payment, PaymentProvider, PaymentStatus
from bookings.payments.core import REDACTED, log_call

logger = logging.getLogger("bookings.payments")

CLICK = PaymentProvider.CLICK
ACTION = "reversal"
# A reversal claimed this long ago with no outcome (the process died during the call) may be tried
# again: far longer than any call waits (CLICK_API_TIMEOUT), so never while one is in flight.
STALE_CLAIM = timedelta(minutes=10)
ANSWER_LIMIT = 64 * 1024  # Click's answer is a line of JSON; more than this is not one
TIMED_OUT = "timed out"


class ClickRefundFailed(BookingNotAllowed):
    """Click did not reverse the payment; the message says why, in words a manager can act on."""


@dataclass(frozen=True)
class Answer:
    """What Click answered: ``status`` 0 and ``error`` set when no HTTP answer came at all."""

    status: int
    body: Any
    error: str = ""

    @property
    def error_code(self) -> int | None:
        code = self.body.get("error_code") if isinstance(self.body, dict) else None
        return code if isinstance(code, int) and not isinstance(code, bool) else None

    @property
    def error_note(self) -> str:
        note = self.body.get("error_note") if isinstance(self.body, dict) else None
        return str(note)[:300] if note else ""

    @property
    def reversed(self) -> bool:
        return self.status == 200 and self.error_code == 0


def auth_header(*, timestamp: int | None = None) -> str:
    """``merchant_user_id:sha1(timestamp + secret_key):timestamp`` -- Click's scheme, not our choice."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hashlib.sha1((stamp + settings.CLICK_SECRET_KEY).encode()).hexdigest()
    return f"{settings.CLICK_MERCHANT_USER_ID}:{digest}:{stamp}"


def reversal_url(payment: Payment) -> str:
    base = settings.CLICK_API_URL.rstrip("/")
    service, payment_id = (quote(value, safe="") for value in (settings.CLICK_SERVICE_ID, payment.provider_txn_id))
    return f"{base}/payment/reversal/{service}/{payment_id}"


def reverse_payment(payment: Payment, *, reason: str, actor: Any) -> Payment:
    """Refund a paid Click payment whole: ask Click to reverse it, and record the refund only if it did.

    The call is made outside any transaction (no lock is held while Click thinks). Two managers
    pressing "refund" at once must not both call Click: the first claims the payment by setting
    ``refund_requested_at`` in one conditional UPDATE, the second finds it claimed and is told so.
    On a refusal or no answer the claim is released and nothing else changed; the request and the
    answer (the Auth digest redacted) are in the payment's log either way.
    """
    reason = (reason or "").strip()
    if not reason:
        raise BookingNotAllowed("Say why the money is returned.")
    _check_configured()
    current = Payment.objects.select_related("booking").get(pk=payment.pk)
    if current.provider != CLICK or not current.provider_txn_id:
        raise BookingNotAllowed("Only a Click payment is reversed through Click.")
    if current.status != PaymentStatus.PAID or current.refunded_amount:
        raise BookingNotAllowed(
            "Click reverses a payment whole, and only one that was not refunded in part: "
            "nothing of this payment can be reversed."
        )
    claimed_at = timezone.now()
    claimed = (
        Payment.objects.filter(pk=current.pk, status=PaymentStatus.PAID, refunded_amount=0)
        .filter(Q(refund_requested_at__isnull=True) | Q(refund_requested_at__lt=claimed_at - STALE_CLAIM))
        .update(refund_requested_at=claimed_at, refund_requested_by=actor if getattr(actor, "pk", None) else None)
    )
    if not claimed:
        raise BookingNotAllowed("A refund of this payment is already under way; reload the page to see how it ended.")

    answer = _call(current)
    if not answer.reversed:
        Payment.objects.filter(pk=current.pk, refund_requested_at=claimed_at).update(
            refund_requested_at=None, refund_requested_by=None
        )
        raise ClickRefundFailed(_failure(answer))
    try:
        return services.refund(payment, reason=f"{reason} (reversed by Click)", actor=actor)
    except BookingNotAllowed:
        # Click returned the money but it cannot be recorded (refunded otherwise meanwhile): the
        # claim stays, so the payment shows as a refund due for a person to look at.
        logger.exception("Click reversed payment %s but the refund could not be recorded", current.pk)
        raise


def _check_configured() -> None:
    missing = [
        name
        for name in ("CLICK_SERVICE_ID", "CLICK_MERCHANT_USER_ID", "CLICK_SECRET_KEY")
        if not getattr(settings, name)
    ]
    if missing:
        raise BookingNotAllowed(f"Click's Merchant API is not set up: {', '.join(missing)} missing.")


def _call(payment: Payment) -> Answer:
    url = reversal_url(payment)
    auth = auth_header()
    headers = {"Accept": "application/json", "Content-Type": "application/json", "Auth": auth}
    request = urllib.request.Request(url, method="DELETE", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=settings.CLICK_API_TIMEOUT) as response:
            answer = Answer(response.status, _body(response.read(ANSWER_LIMIT)))
    except urllib.error.HTTPError as exc:
        with exc:
            answer = Answer(exc.code, _body(exc.read(ANSWER_LIMIT)))
    except TimeoutError:
        answer = Answer(0, None, TIMED_OUT)
    except urllib.error.URLError as exc:
        # Raised before anything was sent (refused, no such host), or a timeout while connecting.
        timed_out = isinstance(exc.reason, TimeoutError)
        answer = Answer(0, None, TIMED_OUT if timed_out else f"not reached: {exc.reason}")
    except OSError as exc:  # the connection dropped while Click was answering
        answer = Answer(0, None, f"{type(exc).__name__}: {exc}")
    user, _digest, stamp = auth.split(":")
    log_call(
        provider=CLICK,
        action=ACTION,
        address="",
        request={"method": "DELETE", "url": url, "headers": {**headers, "Auth": f"{user}:{REDACTED}:{stamp}"}},
        response={"status": answer.status, "body": answer.body} if not answer.error else {"error": answer.error},
        error=None if answer.reversed else answer.error_code,
        payment_id=payment.pk,
        reference=payment.booking.reference,
    )
    return answer


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return {"raw": raw.decode("utf-8", errors="replace")[:500]}


def _failure(answer: Answer) -> str:
    unknown = (
        "Nothing was recorded here. Click may still have reversed it: check the payment in Click's "
        "merchant cabinet before trying again (Click refuses to reverse a payment twice)."
    )
    if answer.error.startswith("not reached"):
        return f"Click could not be reached ({answer.error.removeprefix('not reached: ')}). Nothing was refunded."
    if answer.error == TIMED_OUT:
        return f"Click did not answer within {settings.CLICK_API_TIMEOUT:g} seconds. {unknown}"
    if answer.error:
        return f"The connection to Click failed ({answer.error}). {unknown}"
    if answer.status != 200:
        return f"Click answered HTTP {answer.status} instead of a result. Nothing was refunded; try again later."
    if answer.error_code is None:
        return f"Click's answer could not be read (it is in the payment's log). {unknown}"
    note = f": {answer.error_note}" if answer.error_note else ""
    return f"Click refused the reversal (error {answer.error_code}{note}). Nothing was refunded."
