"""The booking engine's settings, read in one place and typed.

``backoffice/settings.py`` states every default once (from the environment); the services ask
``conf()`` rather than each reading ``django.conf.settings`` with a default of its own. The values
are read once per process and cached; a test that changes a setting (pytest-django's ``settings``
fixture, ``override_settings``) clears the cache through Django's ``setting_changed`` signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

from bookings.models.tutors import CancellationPolicy

# The settings conf() reads: a change to any other leaves the cache as it is.
NAMES = frozenset(
    {
        "DEFAULT_CANCELLATION_POLICY",
        "SEATDESK_GENERATE_DAYS",
        "REMINDER_OFFSETS_MINUTES",
        "REMINDER_OFFSETS_BY_PRODUCT",
        "PAYMENT_REMINDER_HOURS_BEFORE_EXPIRY",
        "REMINDER_MAX_ATTEMPTS",
        "REMINDER_RETRY_BACKOFF",
        "SMS_BACKEND",
    }
)


@dataclass(frozen=True, slots=True)
class BookingConf:
    # Sessions without a tutor (mock exams) cancel under this policy.
    default_cancellation_policy: CancellationPolicy
    # Days ahead generate_sessions creates lessons for (each tutor's max_advance_days caps it).
    generate_days: int
    # Reminder offsets before the start, label -> minutes: for every product (empty: the built-in
    # 24 h, 1 h, 15 min), and per product code.
    reminder_offsets_minutes: Mapping[str, int]
    reminder_offsets_by_product: Mapping[str, Mapping[str, int]]
    # An unpaid booking's payment reminder goes out this long before it expires.
    payment_reminder_lead: timedelta
    reminder_max_attempts: int
    # A failed reminder is retried after this, doubling each time.
    reminder_retry_backoff: timedelta
    # "console", "locmem", "dummy" or a dotted path to a backend class.
    sms_backend: str


@cache
def conf() -> BookingConf:
    """The settings as the services use them."""
    return BookingConf(
        default_cancellation_policy=CancellationPolicy(settings.DEFAULT_CANCELLATION_POLICY),
        generate_days=int(settings.SEATDESK_GENERATE_DAYS),
        # Not in backoffice/settings.py: a deployment that wants it sets it in its own settings.
        reminder_offsets_minutes=dict(getattr(settings, "REMINDER_OFFSETS_MINUTES", None) or {}),
        reminder_offsets_by_product=dict(settings.REMINDER_OFFSETS_BY_PRODUCT or {}),
        payment_reminder_lead=timedelta(hours=float(settings.PAYMENT_REMINDER_HOURS_BEFORE_EXPIRY)),
        reminder_max_attempts=int(settings.REMINDER_MAX_ATTEMPTS),
        reminder_retry_backoff=timedelta(minutes=float(settings.REMINDER_RETRY_BACKOFF)),
        # ``SMS_BACKEND=`` left empty in an .env file means the default backend, not none.
        sms_backend=settings.SMS_BACKEND or "console",
    )


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting in NAMES:
        conf.cache_clear()


setting_changed.connect(_forget, dispatch_uid="bookings.conf")
