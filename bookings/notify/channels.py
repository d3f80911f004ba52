"""Handing rendered reminders to the e-mail and SMS backends, one outcome per reminder.

A failure of one message never stops the others: each outcome is recorded on its own reminder
(``""`` when delivered, else the error text shown in the admin).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import suppress

from django.core.mail import EmailMessage, get_connection

from bookings.notify.sms import SMSMessage, get_sms_backend

logger = logging.getLogger(__name__)

# Reminder id -> "" when the backend accepted the message, else why it did not.
Outcome = dict[int, str]

ERROR_LENGTH = 500


def error_text(exc: BaseException) -> str:
    text = str(exc) or "no details"
    return f"{type(exc).__name__}: {text}"[:ERROR_LENGTH]


def send_emails(messages: Sequence[tuple[int, EmailMessage]]) -> Outcome:
    """Send over one backend connection (one SMTP session for the whole batch, not one per message)."""
    if not messages:
        return {}
    connection = get_connection()
    try:
        connection.open()
    except Exception as exc:
        logger.warning("Mail backend unavailable for %d reminder(s): %s", len(messages), exc)
        return {pk: error_text(exc) for pk, _ in messages}
    outcomes: Outcome = {}
    try:
        for pk, message in messages:
            message.connection = connection
            try:
                accepted = connection.send_messages([message])
            except Exception as exc:
                outcomes[pk] = error_text(exc)
            else:
                outcomes[pk] = "" if accepted else "The mail backend did not accept the message."
    finally:
        with suppress(Exception):  # a failed QUIT must not undo what was delivered
            connection.close()
    return outcomes


def send_sms(messages: Sequence[tuple[int, SMSMessage]]) -> Outcome:
    if not messages:
        return {}
    backend = get_sms_backend()
    outcomes: Outcome = {}
    for pk, message in messages:
        try:
            backend.send(message)
        except Exception as exc:
            outcomes[pk] = error_text(exc)
        else:
            outcomes[pk] = ""
    return outcomes
