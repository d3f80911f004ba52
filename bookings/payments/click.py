"""Click SHOP API: Click calls Prepare, then Complete; we answer JSON with Click's field names.

The contract (docs.click.uz "Click-API Request" and "Click-API Error", and the order of checks of
Click LLC's own PHP integration, click-llc/click-integration-php):

- form-encoded POST with ``click_trans_id``, ``service_id``, ``click_paydoc_id``,
  ``merchant_trans_id`` (our booking reference), ``amount`` (soums), ``action`` (0 Prepare,
  1 Complete), ``error``, ``error_note``, ``sign_time``, ``sign_string``; Complete adds
  ``merchant_prepare_id`` (the id we answered Prepare with: the Payment's primary key, an integer).
- ``sign_string`` = md5(click_trans_id + service_id + SECRET_KEY + merchant_trans_id
  [+ merchant_prepare_id] + amount + action + sign_time), over the strings as received.
- Checks in Click's order: -8 bad request, -1 signature, -3 action, -5 booking, -6 transaction,
  -4 already paid, -2 amount, -9 cancelled; -7 when our side failed; 0 success. A Complete whose
  ``error`` is negative (the payment failed at Click) cancels the attempt and answers -9, unless
  it was paid already (-4).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bookings import services
from bookings.models import Booking, Payment, PaymentProvider, PaymentStatus
from bookings.payments.core import CLICK_HOLD, Call, attempt_of, clean_reference, find_booking, raw_text
from bookings.selectors import MONEY_TAKEN, amount_owed, online_payment_refusal
from bookings.services.online import one_row, read_payment

logger = logging.getLogger("bookings.payments")

CLICK = PaymentProvider.CLICK
PREPARE, COMPLETE = 0, 1
ACTIONS = {PREPARE: "prepare", COMPLETE: "complete"}
NOTES = {
    0: "Success",
    -1: "SIGN CHECK FAILED!",
    -2: "Incorrect parameter amount",
    -3: "Action not found",
    -4: "Already paid",
    -5: "User does not exist",
    -6: "Transaction does not exist",
    -7: "Failed to update user",
    -8: "Error in request from click",
    -9: "Transaction cancelled",
}
REQUIRED = (
    "click_trans_id",
    "service_id",
    "click_paydoc_id",
    "merchant_trans_id",
    "amount",
    "action",
    "error",
    "error_note",
    "sign_time",
    "sign_string",
)
ID = re.compile(r"\d{1,19}")  # Click's ids are 64-bit integers
OUR_ID = re.compile(r"\d{1,18}")  # our primary keys (bigint)
INTEGER = re.compile(r"-?\d{1,9}")
AMOUNT = re.compile(r"\d{1,12}(?:\.\d{1,6})?")  # soums, "1000" or "1000.00" as the link had it
FORM = "application/x-www-form-urlencoded"


def handle(action: int, body: bytes | None, content_type: str, *, address: str = "") -> tuple[dict[str, Any], Call]:
    """Answer one Click call to the Prepare (``action`` 0) or Complete (1) URL.

    A call that reaches the database is handled in one transaction whose last statement is its
    log row (``Call.store``); the others are logged by the caller (``core.Call.log``).
    """
    call = Call(provider=CLICK, action=ACTIONS[action], address=address)
    fields = _parse(body, content_type)
    if fields is None:
        call.request = raw_text(body) if body is not None else {"body": "over the size limit"}
        return _answer(action, -8, {}, call), call
    call.request = fields
    call.reference = fields.get("merchant_trans_id", "")
    code = _check_request(action, fields)
    if code != 0:
        return _answer(action, code, fields, call), call
    try:
        with transaction.atomic():
            code = (_prepare if action == PREPARE else _complete)(fields, call)
            answer = _answer(action, code, fields, call)
            call.store(answer, error=code or None)
    except Exception:
        logger.exception("Click %s for %s failed", ACTIONS[action], call.reference)
        call.failed()
        answer = _answer(action, -7, fields, call)
    return answer, call


def _parse(body: bytes | None, content_type: str) -> dict[str, str] | None:
    """The form Click posts, as strings; None when it is not one (a key twice is not one either)."""
    if body is None or content_type.split(";", 1)[0].strip().lower() != FORM:
        return None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return None
    fields = dict(pairs)
    return fields if len(fields) == len(pairs) else None


def _check_request(action: int, f: dict[str, str]) -> int:
    """-8, -1 and -3: everything that needs no database."""
    required = REQUIRED + (("merchant_prepare_id",) if action == COMPLETE else ())
    if any(name not in f for name in required):
        return -8
    well_formed = (
        ID.fullmatch(f["click_trans_id"])
        and ID.fullmatch(f["service_id"])
        and ID.fullmatch(f["click_paydoc_id"])
        and INTEGER.fullmatch(f["action"])
        and INTEGER.fullmatch(f["error"])
        and AMOUNT.fullmatch(f["amount"])
        and f["merchant_trans_id"]
        and f["sign_time"]
        and (action == PREPARE or OUR_ID.fullmatch(f["merchant_prepare_id"]))
    )
    if not well_formed or (settings.CLICK_SERVICE_ID and f["service_id"] != settings.CLICK_SERVICE_ID):
        return -8
    if not signed(action, f):
        return -1
    if int(f["action"]) != action:
        return -3
    return 0


def signed(action: int, f: dict[str, str]) -> bool:
    """The md5 ``sign_string`` over the raw strings received, compared in constant time."""
    secret = settings.CLICK_SECRET_KEY
    if not secret:
        logger.warning("CLICK_SECRET_KEY is not set: every Click call is refused")
        return False
    parts = [f["click_trans_id"], f["service_id"], secret, f["merchant_trans_id"]]
    if action == COMPLETE:
        parts.append(f["merchant_prepare_id"])
    parts += [f["amount"], f["action"], f["sign_time"]]
    expected = hashlib.md5("".join(parts).encode()).hexdigest()  # Click's protocol, not our choice
    return hmac.compare_digest(expected.encode(), f["sign_string"].strip().lower().encode())


def _prepare(f: dict[str, str], call: Call) -> int:
    booking = find_booking(clean_reference(f["merchant_trans_id"]))
    if booking is None:
        return -5
    amount = Decimal(f["amount"])
    existing = one_row(Payment.objects.filter(provider=CLICK, provider_txn_id=f["click_trans_id"]))
    if existing is not None:
        # The same Prepare again: the same merchant_prepare_id, or why it cannot be paid.
        existing = attempt_of(existing, booking)
        if existing is None:
            return -6
        call.payment_id = existing.pk
        return _prepared_again(existing, existing.booking, amount)
    why = online_payment_refusal(booking, starting=True)
    if why == "paid":
        return -4
    if amount != amount_owed(booking):
        return -2
    if why is not None:
        return -9
    payment = services.start_online_payment(
        booking,
        provider=CLICK,
        amount=amount,
        provider_txn_id=f["click_trans_id"],
        holds_until=timezone.now() + CLICK_HOLD,
        account=booking.reference,
        click_paydoc_id=f["click_paydoc_id"],
    )
    call.payment_id = payment.pk
    return 0


def _prepared_again(payment: Payment, booking: Booking, amount: Decimal) -> int:
    why = online_payment_refusal(booking, starting=False)
    if payment.status in MONEY_TAKEN or why == "paid":
        return -4
    if amount != payment.amount:
        return -2
    return 0 if payment.status == PaymentStatus.PENDING and why is None else -9


def _complete(f: dict[str, str], call: Call) -> int:
    booking = find_booking(clean_reference(f["merchant_trans_id"]))
    if booking is None:
        return -5
    payment = read_payment(CLICK, f["click_trans_id"], pk=int(f["merchant_prepare_id"]))
    payment = attempt_of(payment, booking) if payment is not None else None
    if payment is None:
        return -6
    booking = payment.booking
    call.payment_id = payment.pk
    if payment.status in MONEY_TAKEN:
        return -4
    pending = payment.status == PaymentStatus.PENDING
    if int(f["error"]) < 0:
        # The payment failed at Click: the attempt ends, the booking stays as it was.
        if pending:
            services.cancel_payment_attempt(
                payment, failed=True, note=f"Click error {f['error']}: {f['error_note']}"[:200]
            )
        return -9
    owed = amount_owed(booking, paid=payment.booking_paid)  # read with the payment, under the booking's lock
    why = online_payment_refusal(booking, starting=False, owed=owed)
    if why == "paid":
        if pending:  # paid meanwhile by other means (the desk, another attempt): Click returns this one
            services.cancel_payment_attempt(payment, note="the booking was paid meanwhile")
        return -4
    amount = Decimal(f["amount"])
    if amount != payment.amount or amount != owed:
        return -2
    if not pending:
        return -9
    if why is not None:
        services.cancel_payment_attempt(payment, note="the booking was cancelled meanwhile")
        return -9
    services.pay_attempt(payment, booking=booking, owed=owed)
    return 0


def _answer(action: int, code: int, f: dict[str, str], call: Call) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    if ID.fullmatch(f.get("click_trans_id", "")):
        answer["click_trans_id"] = int(f["click_trans_id"])
    if "merchant_trans_id" in f:
        answer["merchant_trans_id"] = f["merchant_trans_id"]
    if call.payment_id is not None:
        answer["merchant_prepare_id" if action == PREPARE else "merchant_confirm_id"] = call.payment_id
    answer["error"] = code
    answer["error_note"] = NOTES[code]
    return answer
