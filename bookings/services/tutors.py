from __future__ import annotations

from typing import Any

from bookings.models import Tutor
from bookings.models.tutors import new_calendar_token


def regenerate_calendar_token(tutor: Tutor, *, actor: Any = None) -> Tutor:
    """Issue a new secret calendar link; the old one stops working at once."""
    tutor.calendar_token = new_calendar_token()
    tutor.save(update_fields=["calendar_token"])
    return tutor
