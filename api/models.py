"""What the API keeps of its own: sign-in codes sent by SMS and Idempotency-Key answers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class PhoneCode(models.Model):
    """The sign-in code last sent to a phone: one row per phone, replaced by the next code.

    Only a keyed hash of the code is stored (``api.otp.code_hash``). ``attempts`` counts wrong
    tries; the row is deleted when the code is used.
    """

    phone = models.CharField(max_length=20, unique=True)
    code_hash = models.CharField(max_length=64)
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = "sign-in code"

    def __str__(self) -> str:
        return f"code for {self.phone}"


class IdempotencyState(models.TextChoices):
    IN_FLIGHT = "in_flight", "In flight"
    DONE = "done", "Done"


class IdempotencyKey(models.Model):
    """A POST made with an ``Idempotency-Key`` header, and the answer it got.

    The unique (user, key) row is claimed before the request runs, so two processes given the
    same key cannot both run it: the second finds the row in flight (409) or done (the first
    answer, replayed). ``fingerprint`` is the method, path and body: the same key with another
    request is refused.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=IdempotencyState.choices, default=IdempotencyState.IN_FLIGHT)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_one_per_user_key")]

    def __str__(self) -> str:
        return self.key
