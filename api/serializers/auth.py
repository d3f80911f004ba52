from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from api.otp import CODE_DIGITS
from api.serializers.fields import StrictCharField, StrictRegexField
from backoffice.phones import normalize_phone


class PhoneField(StrictCharField):
    """A phone number as people type it, returned in E.164 (``backoffice.phones``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=32, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        raw = super().to_internal_value(data)
        try:
            return normalize_phone(raw)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class OTPSerializer(serializers.Serializer):
    phone = PhoneField(help_text="The phone to send the code to, e.g. +998901234567.")


class OTPSentSerializer(serializers.Serializer):
    phone = serializers.CharField(help_text="The phone in E.164, as it is to be sent to auth/token/.")
    expires_in = serializers.IntegerField(help_text="Seconds the code stays valid.")
    resend_in = serializers.IntegerField(help_text="Seconds before another code can be asked for.")


class TokenSerializer(serializers.Serializer):
    """Either ``phone`` and ``code`` (students, tutors) or ``username`` and ``password`` (anyone
    with a usable password)."""

    phone = PhoneField(required=False)
    code = StrictRegexField(
        rf"^\d{{{CODE_DIGITS}}}$",
        required=False,
        error_messages={"invalid": f"Enter the {CODE_DIGITS}-digit code from the SMS."},
    )
    username = StrictCharField(required=False, max_length=150)
    password = StrictCharField(required=False, max_length=128, trim_whitespace=False, style={"input_type": "password"})

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        by_phone = "phone" in attrs or "code" in attrs
        by_password = "username" in attrs or "password" in attrs
        if by_phone == by_password:
            raise serializers.ValidationError("Send either phone and code, or username and password.")
        needed = ("phone", "code") if by_phone else ("username", "password")
        missing = {name: ["This field is required."] for name in needed if name not in attrs}
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Send as `Authorization: Bearer <access>`; valid 15 minutes.")
    refresh = serializers.CharField(help_text="For auth/token/refresh/ and auth/logout/; good once.")


class RefreshSerializer(serializers.Serializer):
    refresh = StrictCharField()
