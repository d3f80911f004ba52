"""Payme Merchant API: Payme calls us with JSON-RPC 2.0 and we always answer HTTP 200.

The contract (developer.help.paycom.uz "Протокол Merchant API" and its method pages; Payme's own
PHP and Kotlin templates for the order of checks):

- ``Authorization: Basic base64("Paycom:<key>")`` is checked first, for every method (-32504);
  the key is PAYME_KEY, or PAYME_TEST_KEY in PAYME_TEST_MODE.
- Six methods: CheckPerformTransaction, CreateTransaction, PerformTransaction, CancelTransaction,
  CheckTransaction, GetStatement. The account field is ``booking`` (the reference), amounts are
  in tiyin (soums x 100), times in milliseconds. ``transaction`` is our id (the Payment's), a string.
- A transaction is 1 (created), 2 (performed), -1 (cancelled before perform) or -2 (cancelled
  after perform: a refund). Repeats answer what was stored (the same times).
- 12 hours from Payme's own ``time``: a Create with an older ``time`` is refused (-31008); a
  state-1 transaction past it is cancelled (-1, reason 4) when Create or Perform touch it (-31008).
- A booking takes one transaction at a time: a Create with a new id while one waits in state 1 is
  refused with -31008 (what the Payme sandbox expected of teams that passed it; the other
  choice DESIGN allows, an account error, is kept for what is wrong with the booking itself).
- Account errors: -31050 booking not found, -31051 cannot be paid (cancelled, or expired with its
  seat gone), -31052 already paid; ``data`` names the field, ``message`` is in ru, uz and en.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bookings import services
from bookings.models import Booking, Payment, PaymentProvider
from bookings.payments.core import (
    PAYME_TIMEOUT_MS,
    Call,
    attempt_of,
    clean_reference,
    find_booking,
    from_ms,
    in_soums,
    in_tiyin,
    now_ms,
    raw_text,
    to_ms,
)
from bookings.selectors import amount_owed, online_payment_refusal, service_delivered
from bookings.services.online import locked_provider_payment, one_row

logger = logging.getLogger("bookings.payments")

PAYME = PaymentProvider.PAYME
LOGIN = "Paycom"
CREATED, PERFORMED, CANCELLED, REFUNDED = 1, 2, -1, -2
TIMED_OUT = 4  # Payme's cancel reason for its 12-hour timeout
EXECUTION_ERROR = 3  # the reason we give a transaction we cannot perform
FAILURE_REASONS = frozenset({1, 2, 3, 10})  # receivers, debit, execution, unknown: the payment failed
AUTH = re.compile(r"\s*Basic\s+(\S+)\s*", re.IGNORECASE)
MAX_MS = 10**14  # year 5138: beyond any clock, within what a datetime holds

MESSAGES = {
    -32300: ("Метод запроса должен быть POST", "So'rov usuli POST bo'lishi kerak", "The request method must be POST"),
    -32700: ("Ошибка разбора JSON", "JSON tahlilida xato", "The request is not valid JSON"),
    -32600: (
        "Отсутствуют обязательные поля или тип полей не соответствует спецификации",
        "Majburiy maydonlar yo'q yoki maydon turi noto'g'ri",
        "A required field is missing or has the wrong type",
    ),
    -32601: ("Метод не найден", "Metod topilmadi", "Method not found"),
    -32504: (
        "Недостаточно привилегий для выполнения метода",
        "Metodni bajarish uchun huquqlar yetarli emas",
        "Insufficient privileges to perform this method",
    ),
    -32400: ("Системная ошибка", "Tizim xatosi", "System error"),
    -31001: ("Неверная сумма", "Noto'g'ri summa", "Wrong amount"),
    -31003: ("Транзакция не найдена", "Tranzaksiya topilmadi", "Transaction not found"),
    -31007: (
        "Невозможно отменить транзакцию: услуга оказана",
        "Tranzaksiyani bekor qilib bo'lmaydi: xizmat ko'rsatilgan",
        "The transaction cannot be cancelled: the service was delivered",
    ),
    -31008: ("Невозможно выполнить операцию", "Amalni bajarib bo'lmaydi", "The operation cannot be performed"),
    -31050: ("Бронирование не найдено", "Bron topilmadi", "Booking not found"),
    -31051: (
        "Бронирование отменено, его нельзя оплатить",
        "Bron bekor qilingan, uni to'lab bo'lmaydi",
        "The booking is cancelled and cannot be paid",
    ),
    -31052: ("Бронирование уже оплачено", "Bron allaqachon to'langan", "The booking is already paid"),
}
BUSY = (
    "Для этого бронирования уже есть ожидающая транзакция",
    "Bu bron uchun kutilayotgan tranzaksiya bor",
    "Another transaction for this booking is waiting to be performed",
)
EXPIRED = ("Время ожидания транзакции истекло", "Tranzaksiya muddati o'tgan", "The transaction timed out")


class RPCError(Exception):
    """A Payme error answer. Raised before anything is written; returned when a write must commit."""

    def __init__(self, code: int, data: str | None = None, message: tuple[str, str, str] | None = None) -> None:
        super().__init__(code)
        self.code, self.data = code, data
        self.message = message or MESSAGES[code]

    def as_json(self) -> dict[str, Any]:
        ru, uz, en = self.message
        error: dict[str, Any] = {"code": self.code, "message": {"ru": ru, "uz": uz, "en": en}}
        if self.data is not None:
            error["data"] = self.data
        return error


Result = dict[str, Any] | RPCError


def handle(
    *, method_allowed: bool, authorization: str, body: bytes | None, address: str = ""
) -> tuple[dict[str, Any], Call]:
    """Answer one call; the envelope's ``id`` is echoed whenever the body could be read.

    A method that reaches the database runs in one transaction whose last statement is the call's
    log row (``Call.store``); the others are logged by the caller (``core.Call.log``).
    """
    call = Call(provider=PAYME, action="?", address=address)
    payload = _json(body)
    if body is None:
        call.request = {"body": "over the size limit"}
    else:
        call.request = payload if isinstance(payload, dict) else raw_text(body)
    request_id = _request_id(payload)
    if isinstance(payload, dict) and isinstance(payload.get("method"), str):
        call.action = payload["method"][:40]
    checked = _checked(method_allowed, authorization, body, payload)
    if isinstance(checked, RPCError):
        return _envelope(request_id, checked), call
    method, params = checked
    try:
        with transaction.atomic():
            answer = _envelope(request_id, method(params, call))
            call.store(answer, error=_code(answer))
    except RPCError as error:  # raised before anything was written
        call.logged = False
        answer = _envelope(request_id, error)
    except Exception:
        logger.exception("Payme %s failed", call.action)
        call.failed()
        answer = _envelope(request_id, RPCError(-32400))
    return answer, call


def _envelope(request_id: Any, result: Result) -> dict[str, Any]:
    if isinstance(result, RPCError):
        return {"jsonrpc": "2.0", "id": request_id, "error": result.as_json()}
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _code(answer: dict[str, Any]) -> int | None:
    return answer["error"]["code"] if "error" in answer else None


Method = Callable[[dict[str, Any], Call], Result]


def _checked(
    method_allowed: bool, authorization: str, body: bytes | None, payload: Any
) -> RPCError | tuple[Method, dict[str, Any]]:
    """Everything checked before the database: the method and its params, or the error to answer."""
    if not method_allowed:
        return RPCError(-32300)
    if not authorized(authorization):
        return RPCError(-32504)
    if body is None:
        return RPCError(-32600, "body")
    if payload is _UNREADABLE:
        return RPCError(-32700)
    if not isinstance(payload, dict) or not isinstance(payload.get("method"), str):
        return RPCError(-32600, "method")
    method = METHODS.get(payload["method"])
    if method is None:
        return RPCError(-32601, payload["method"][:100])
    params = payload.get("params")
    if not isinstance(params, dict):
        return RPCError(-32600, "params")
    return method, params


def authorized(header: str) -> bool:
    """``Paycom:<key>`` whole, in constant time; no key configured refuses everyone."""
    key = settings.PAYME_TEST_KEY if settings.PAYME_TEST_MODE else settings.PAYME_KEY
    if not key:
        logger.warning("%s is not set: every Payme call is refused", _key_name())
        return False
    match = AUTH.fullmatch(header or "")
    if match is None:
        return False
    try:
        given = base64.b64decode(match.group(1), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, f"{LOGIN}:{key}".encode())


def _key_name() -> str:
    return "PAYME_TEST_KEY (PAYME_TEST_MODE is on)" if settings.PAYME_TEST_MODE else "PAYME_KEY"


_UNREADABLE = object()


def _json(body: bytes | None) -> Any:
    if body is None:
        return None
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return _UNREADABLE


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _request_id(payload: Any) -> Any:
    request_id = payload.get("id") if isinstance(payload, dict) else None
    if isinstance(request_id, bool) or not isinstance(request_id, int | str | None):
        return None
    return request_id


# --- Parameters ------------------------------------------------------------------------------------


def _number(params: dict[str, Any], name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_MS:
        raise RPCError(-32600, name)
    return value


def _amount(params: dict[str, Any]) -> int:
    """Tiyin, a whole positive number; anything else numeric is the wrong amount."""
    value = params.get("amount")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RPCError(-32600, "amount")
    if isinstance(value, float):
        if not value.is_integer():
            raise RPCError(-31001, "amount")
        value = int(value)
    if value <= 0:
        raise RPCError(-31001, "amount")
    return value


def _txn_id(params: dict[str, Any]) -> str:
    value = params.get("id")
    if not isinstance(value, str) or not 0 < len(value) <= 64 or not value.isprintable():
        raise RPCError(-32600, "id")
    return value


def _booking(params: dict[str, Any], call: Call) -> Booking:
    account = params.get("account")
    raw = account.get("booking") if isinstance(account, dict) else None
    call.reference = raw[:64] if isinstance(raw, str) else ""
    booking = find_booking(clean_reference(raw))
    if booking is None:
        raise RPCError(-31050, "booking")
    return booking


def _transaction(params: dict[str, Any], call: Call) -> Payment:
    """Our payment for Payme's ``id``, its booking's row locked first (the order every writer keeps).

    The booking is the payment's own: after a reschedule, the booking the attempt moved to.
    """
    payment = locked_provider_payment(PAYME, _txn_id(params))
    if payment is None:
        raise RPCError(-31003, "id")
    call.payment_id, call.reference = payment.pk, payment.booking.reference
    return payment


def _payable(booking: Booking, amount: int) -> None:
    why = online_payment_refusal(booking, starting=True)
    if why is not None:
        raise RPCError(-31052 if why == "paid" else -31051, "booking")
    if amount != in_tiyin(amount_owed(booking)):
        raise RPCError(-31001, "amount")


def _timed_out(payment: Payment) -> bool:
    return now_ms() - payment.provider_time > PAYME_TIMEOUT_MS


def _end(payment: Payment, reason: int, *, note: str = "") -> None:
    """Cancel a state-1 transaction: state -1 with ``reason``; the booking stays as it is.

    ``failed`` when Payme gives a failure as its reason; our own refusal (``note``) is a cancellation.
    """
    services.cancel_payment_attempt(
        payment,
        failed=not note and reason in FAILURE_REASONS,
        note=note or f"Payme reason {reason}",
        provider_state=CANCELLED,
        provider_reason=reason,
        cancel_time=now_ms(),
    )


def _waiting(booking: Booking, *, other_than: str) -> Payment | None:
    """A state-1 transaction of this booking still within Payme's 12 hours; older ones are ended."""
    for payment in Payment.objects.filter(booking=booking, provider=PAYME, provider_state=CREATED).exclude(
        provider_txn_id=other_than
    ):
        if not _timed_out(payment):
            return payment
        _end(payment, TIMED_OUT)
    return None


# --- Methods -----------------------------------------------------------------------------------------


def check_perform(params: dict[str, Any], call: Call) -> Result:
    amount = _amount(params)
    booking = _booking(params, call)
    _payable(booking, amount)
    if _waiting(booking, other_than="") is not None:
        return RPCError(-31008, "booking", BUSY)
    return {"allow": True}


def create(params: dict[str, Any], call: Call) -> Result:
    txn_id, payme_time, amount = _txn_id(params), _number(params, "time"), _amount(params)
    booking = _booking(params, call)
    existing = one_row(Payment.objects.filter(provider=PAYME, provider_txn_id=txn_id))
    if existing is not None:
        call.payment_id = existing.pk
        return _created_again(existing, booking, amount)
    _payable(booking, amount)
    if now_ms() - payme_time > PAYME_TIMEOUT_MS:
        return RPCError(-31008, "time", EXPIRED)
    if _waiting(booking, other_than=txn_id) is not None:
        return RPCError(-31008, "booking", BUSY)
    payment = services.start_online_payment(
        booking,
        provider=PAYME,
        amount=in_soums(amount),
        provider_txn_id=txn_id,
        account=call.reference,  # as Payme sent it: GetStatement answers with it
        # Payme's clock, but never ahead of ours: a future ``time`` must not hold a seat for longer.
        holds_until=from_ms(min(payme_time, now_ms()) + PAYME_TIMEOUT_MS),
        provider_state=CREATED,
        provider_time=payme_time,
        create_time=now_ms(),
    )
    call.payment_id = payment.pk
    return _created(payment)


def _created_again(payment: Payment, booking: Booking, amount: int) -> Result:
    if attempt_of(payment, booking) is None:  # another booking's
        return RPCError(-31050, "booking")
    if amount != in_tiyin(payment.amount):
        return RPCError(-31001, "amount")
    if payment.provider_state != CREATED:
        return RPCError(-31008, "id")
    if _timed_out(payment):
        _end(payment, TIMED_OUT)
        return RPCError(-31008, "id", EXPIRED)
    return _created(payment)


def _created(payment: Payment) -> dict[str, Any]:
    return {"create_time": payment.create_time, "transaction": str(payment.pk), "state": CREATED, "receivers": None}


def perform(params: dict[str, Any], call: Call) -> Result:
    payment = _transaction(params, call)
    if payment.provider_state == PERFORMED:
        return _performed(payment)
    if payment.provider_state != CREATED:
        return RPCError(-31008, "id")
    if _timed_out(payment):
        _end(payment, TIMED_OUT)
        return RPCError(-31008, "id", EXPIRED)
    booking = payment.booking
    owed = amount_owed(booking, paid=payment.booking_paid)  # read with the payment, under the booking's lock
    if online_payment_refusal(booking, starting=False, owed=owed) is not None or payment.amount != owed:
        # Paid at the desk meanwhile, or cancelled: Payme returns this money, we keep no record of it.
        _end(payment, EXECUTION_ERROR, note="the booking was paid or cancelled meanwhile")
        return RPCError(-31008, "booking")
    now = timezone.now()
    paid = services.pay_attempt(
        payment, booking=booking, owed=owed, now=now, provider_state=PERFORMED, perform_time=to_ms(now)
    )
    return _performed(paid)


def _performed(payment: Payment) -> dict[str, Any]:
    return {"transaction": str(payment.pk), "perform_time": payment.perform_time, "state": PERFORMED}


def cancel(params: dict[str, Any], call: Call) -> Result:
    reason = params.get("reason")
    if isinstance(reason, bool) or not isinstance(reason, int) or not -1000 < reason < 1000:
        raise RPCError(-32600, "reason")
    payment = _transaction(params, call)
    if payment.provider_state in (CANCELLED, REFUNDED):
        return _cancelled(payment)
    if payment.provider_state == CREATED:
        _end(payment, reason)
    else:
        if service_delivered(payment.booking):
            return RPCError(-31007, "id")
        if payment.refundable > 0:
            services.refund(payment, reason=f"Payme CancelTransaction, reason {reason}", actor=None)
        services.set_provider_state(payment, provider_state=REFUNDED, provider_reason=reason, cancel_time=now_ms())
    payment.refresh_from_db()
    return _cancelled(payment)


def _cancelled(payment: Payment) -> dict[str, Any]:
    return {"transaction": str(payment.pk), "cancel_time": payment.cancel_time, "state": payment.provider_state}


def check(params: dict[str, Any], call: Call) -> Result:
    payment = _transaction(params, call)
    return {
        "create_time": payment.create_time or 0,
        "perform_time": payment.perform_time or 0,
        "cancel_time": payment.cancel_time or 0,
        "transaction": str(payment.pk),
        "state": payment.provider_state,
        "reason": payment.provider_reason,
    }


def statement(params: dict[str, Any], call: Call) -> Result:
    start, end = _number(params, "from"), _number(params, "to")
    payments = (
        Payment.objects.filter(provider=PAYME, provider_time__gte=start, provider_time__lte=end)
        .select_related("booking")
        .order_by("provider_time", "pk")
    )
    return {
        "transactions": [
            {
                "id": payment.provider_txn_id,
                "time": payment.provider_time,
                "amount": int(in_tiyin(payment.amount)),
                "account": {"booking": payment.provider_account or payment.booking.reference},
                "create_time": payment.create_time or 0,
                "perform_time": payment.perform_time or 0,
                "cancel_time": payment.cancel_time or 0,
                "transaction": str(payment.pk),
                "state": payment.provider_state,
                "reason": payment.provider_reason,
                "receivers": None,
            }
            for payment in payments
        ]
    }


METHODS: dict[str, Method] = {
    "CheckPerformTransaction": check_perform,
    "CreateTransaction": create,
    "PerformTransaction": perform,
    "CancelTransaction": cancel,
    "CheckTransaction": check,
    "GetStatement": statement,
}
