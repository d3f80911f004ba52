"""Phone sign-in: a 6-digit code sent by SMS, good for a couple of minutes and a few tries.

One ``PhoneCode`` row per phone holds the code last sent, as a keyed hash. Every rule is a
conditional UPDATE on that row, so two requests at once cannot both send a code within the resend
interval, nor both spend the last try, nor both sign in with one code.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from api.models import PhoneCode
from backoffice.models import Role, User
from bookings.notify.sms import SMSMessage, get_sms_backend

CODE_DIGITS = 6
# Who may sign in with a code sent to their phone. Managers and operators, who hold the back
# office's powers, sign in with their password (and django-axes' lockout) only.
PHONE_SIGN_IN_ROLES = (Role.STUDENT, Role.TUTOR)


class CodeError(Exception):
    """The code was not sent or not accepted; the message says why, for the person."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class TooSoon(CodeError):
    """A code was sent to this phone less than ``API_OTP_RESEND_SECONDS`` ago."""


class SMSUnavailable(CodeError):
    """The SMS backend failed: nothing was sent and no code is waiting."""


@dataclass(frozen=True)
class SentCode:
    phone: str
    expires_at: datetime
    resend_after: datetime


def code_hash(phone: str, code: str) -> str:
    # A keyed hash: the table alone (a backup, a leak) does not give the codes away, and 10^6
    # candidates make a slow password hash pointless while costing every check ~0.3 s.
    return salted_hmac("api.otp", f"{phone}:{code}", algorithm="sha256").hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def sms_text(code: str) -> str:
    minutes = max(settings.API_OTP_TTL_SECONDS // 60, 1)
    # The code must stay the only 6-digit number in the text (front ends and tests pick it out).
    return f"Seatdesk sign-in code: {code}. It expires in {minutes} min. Do not share it."


def send_code(phone: str, *, now: datetime | None = None) -> SentCode:
    """Send a new code to ``phone`` (E.164) by SMS, replacing any earlier one.

    Raises ``TooSoon`` within the resend interval of the last code, ``SMSUnavailable`` when the
    SMS backend fails (the code is then withdrawn, so asking again is allowed at once).
    """
    now = now or timezone.now()
    code = new_code()
    digest = code_hash(phone, code)
    expires_at = now + timedelta(seconds=settings.API_OTP_TTL_SECONDS)
    resend = timedelta(seconds=settings.API_OTP_RESEND_SECONDS)
    fields = {"code_hash": digest, "sent_at": now, "expires_at": expires_at, "attempts": 0}
    with transaction.atomic():
        # Replaces the row only if its code is old enough: two requests at once, one new code.
        replaced = PhoneCode.objects.filter(phone=phone, sent_at__lte=now - resend).update(**fields)
        if not replaced:
            try:
                with transaction.atomic():
                    PhoneCode.objects.create(phone=phone, **fields)
            except IntegrityError:
                sent_at = PhoneCode.objects.filter(phone=phone).values_list("sent_at", flat=True).first() or now
                wait = max(int((sent_at + resend - now).total_seconds()) + 1, 1)
                raise TooSoon(
                    f"A code was sent to this phone moments ago: ask again in {wait} s.", retry_after=wait
                ) from None
    # After the commit: the SMS goes out only for a code that is stored.
    try:
        get_sms_backend().send(SMSMessage(to=phone, body=sms_text(code)))
    except Exception as exc:
        PhoneCode.objects.filter(phone=phone, code_hash=digest).delete()
        raise SMSUnavailable("The code could not be sent by SMS just now: try again in a minute.") from exc
    return SentCode(phone=phone, expires_at=expires_at, resend_after=now + resend)


def check_code(phone: str, code: str, *, now: datetime | None = None) -> None:
    """Accept ``code`` for ``phone`` once, or raise ``CodeError`` saying why not."""
    now = now or timezone.now()
    row = PhoneCode.objects.filter(phone=phone).values("pk", "code_hash", "expires_at", "attempts").first()
    if row is None or row["expires_at"] <= now:
        raise CodeError("There is no valid code for this phone: ask for a new one.")
    # The try is counted before the code is compared, so parallel guesses cannot exceed the limit.
    counted = PhoneCode.objects.filter(
        pk=row["pk"], code_hash=row["code_hash"], attempts__lt=settings.API_OTP_MAX_TRIES
    ).update(attempts=F("attempts") + 1)
    if not counted:
        raise CodeError("Too many wrong codes: ask for a new one.")
    if not constant_time_compare(row["code_hash"], code_hash(phone, code)):
        left = settings.API_OTP_MAX_TRIES - row["attempts"] - 1
        raise CodeError(f"Wrong code: {left} tries left." if left else "Wrong code: ask for a new one.")
    used, _ = PhoneCode.objects.filter(pk=row["pk"], code_hash=row["code_hash"]).delete()
    if not used:
        raise CodeError("This code has been used already: ask for a new one.")


def user_for_phone(phone: str) -> User:
    """The person with this phone, or a new student: the first sign-in creates the account.

    Raises ``CodeError`` for a person who may not sign in by phone.
    """
    user = User.objects.filter(phone=phone).first()
    if user is None:
        user = _create_student(phone)
    if not user.is_active:
        raise CodeError("This account is disabled.")
    if user.role not in PHONE_SIGN_IN_ROLES or user.is_superuser:
        raise CodeError("Staff sign in with their username and password.")
    return user


def _create_student(phone: str) -> User:
    for username in (phone, f"user-{uuid.uuid4().hex[:12]}"):
        student = User(phone=phone, username=username, role=Role.STUDENT)
        student.set_unusable_password()
        try:
            with transaction.atomic():
                student.save(force_insert=True)
            return student
        except IntegrityError:
            # The same phone signing in twice at once: the other request created the student.
            existing = User.objects.filter(phone=phone).first()
            if existing is not None:
                return existing
            # Or the phone is some other account's username: try once more with a generated one.
    raise CodeError("The account could not be created: try again.")
