"""Phone numbers: parsed with ``phonenumbers``, stored in E.164 (+998901234567)."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError


def normalize_phone(value: str, region: str | None = None) -> str:
    """Return ``value`` in E.164 or raise ValidationError with a message for staff.

    Accepts what people type: ``+998 90 123 45 67``, ``998901234567``, ``90 123-45-67``.
    """
    raw = (value or "").strip()
    if not raw:
        raise ValidationError("Enter a phone number.", code="required")
    region = region or settings.PHONENUMBER_DEFAULT_REGION
    digits = "".join(ch for ch in raw if ch.isdigit())
    candidates = [raw]
    if not raw.startswith("+") and len(digits) > 9:
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise ValidationError(f"“{raw}” is not a valid phone number.", code="invalid_phone")


def validate_e164(value: str) -> None:
    if value and normalize_phone(value) != value:
        raise ValidationError(f"“{value}” is not in E.164 form, e.g. +998901234567.", code="invalid_phone")


def display_phone(value: str | None) -> str:
    """How people read a stored number: ``+998 90 123 45 67`` (the international format of its
    country, grouped as people write it). Anything that does not parse is shown as stored."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
