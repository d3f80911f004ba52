"""``bookings.conf``: the services' settings, typed, read once, and refreshed when a test changes them."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings as django_settings

from bookings.conf import conf
from bookings.models import CancellationPolicy


def test_it_reads_the_project_settings_with_their_types():
    current = conf()
    assert current.default_cancellation_policy == CancellationPolicy(django_settings.DEFAULT_CANCELLATION_POLICY)
    assert current.generate_days == django_settings.SEATDESK_GENERATE_DAYS
    assert current.reminder_retry_backoff == timedelta(minutes=django_settings.REMINDER_RETRY_BACKOFF)
    assert current.payment_reminder_lead == timedelta(hours=django_settings.PAYMENT_REMINDER_HOURS_BEFORE_EXPIRY)
    assert conf() is current  # read once


def test_a_changed_setting_is_read_again(settings):
    settings.DEFAULT_CANCELLATION_POLICY = "strict"
    settings.REMINDER_MAX_ATTEMPTS = 2
    settings.SMS_BACKEND = ""
    assert (conf().default_cancellation_policy, conf().reminder_max_attempts) == (CancellationPolicy.STRICT, 2)
    assert conf().sms_backend == "console"  # left empty: the default backend
