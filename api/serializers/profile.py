from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from rest_framework import serializers

from api.serializers.fields import StrictCharField, StrictEmailField
from backoffice.models import User


class ProfileSerializer(serializers.ModelSerializer):
    """The signed-in person: name, e-mail and language can be changed; phone and role cannot."""

    first_name = StrictCharField(max_length=150, allow_blank=True, required=False)
    last_name = StrictCharField(max_length=150, allow_blank=True, required=False)
    email = StrictEmailField(max_length=254, allow_blank=True, required=False)

    class Meta:
        model = User
        fields = ["id", "phone", "first_name", "last_name", "email", "language", "role"]
        read_only_fields = ["id", "phone", "role"]

    def validate_email(self, value: str) -> str:
        email = value.strip().lower()
        if email and User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise serializers.ValidationError("Another account has this e-mail address.")
        return email

    def validate_first_name(self, value: str) -> str:
        return value.strip()

    def validate_last_name(self, value: str) -> str:
        return value.strip()

    def update(self, instance: User, validated_data: dict[str, Any]) -> User:
        for name, value in validated_data.items():
            setattr(instance, name, value)
        try:
            with transaction.atomic():
                instance.save(update_fields=list(validated_data))
        except IntegrityError:  # the same e-mail saved by another account a moment ago
            raise serializers.ValidationError({"email": ["Another account has this e-mail address."]}) from None
        return instance
