"""Sending SMS through a pluggable backend, chosen by the SMS_BACKEND setting.

A backend sends one message at a time and raises ``SMSError`` (or anything else) when it cannot, so
the caller can record a failure per reminder. ``console`` logs (development), ``locmem`` keeps an
outbox for tests, ``dummy`` drops everything (benchmarks); any other value is a dotted class path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from django.utils.module_loading import import_string

from bookings.conf import conf

logger = logging.getLogger(__name__)

ALIASES = {
    "console": "bookings.notify.sms.ConsoleSMSBackend",
    "locmem": "bookings.notify.sms.LocmemSMSBackend",
    "dummy": "bookings.notify.sms.DummySMSBackend",
}

# What LocmemSMSBackend "sent", like django.core.mail.outbox; tests clear it.
outbox: list[SMSMessage] = []


@dataclass(frozen=True)
class SMSMessage:
    to: str
    body: str


class SMSError(Exception):
    """The provider refused or could not be reached; the message says why, for the reminder's last error."""


class BaseSMSBackend:
    def send(self, message: SMSMessage) -> None:
        raise NotImplementedError


class ConsoleSMSBackend(BaseSMSBackend):
    def send(self, message: SMSMessage) -> None:
        logger.info("SMS to %s: %s", message.to, message.body)


class LocmemSMSBackend(BaseSMSBackend):
    def send(self, message: SMSMessage) -> None:
        outbox.append(message)


class DummySMSBackend(BaseSMSBackend):
    def send(self, message: SMSMessage) -> None:
        return None


def get_sms_backend() -> BaseSMSBackend:
    return _backend(conf().sms_backend)


@cache
def _backend(name: str) -> BaseSMSBackend:
    # Cached per name, so a test's settings override picks another backend and not a stale one.
    return import_string(ALIASES.get(name, name))()
