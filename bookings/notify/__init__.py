"""Delivering reminders: e-mail (Django's mail), SMS (pluggable backend), push (realtime notification)."""

from bookings.notify.channels import Outcome, send_emails, send_sms
from bookings.notify.messages import email_for, push_event_for, sms_for
from bookings.notify.sms import SMSError, SMSMessage, get_sms_backend

__all__ = [
    "Outcome",
    "SMSError",
    "SMSMessage",
    "email_for",
    "get_sms_backend",
    "push_event_for",
    "send_emails",
    "send_sms",
    "sms_for",
]
