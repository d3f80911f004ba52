"""Recording test results."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from bookings.errors import BookingNotAllowed
from bookings.models import BookingStatus, TestResult
from bookings.models.results import SUB_SCORES
from bookings.services._common import fresh, log_event
from bookings.services.transitions import _copy_state, _finish
from realtime.events import publish, staff_group


def record_result(
    booking: Any,
    *,
    scores: dict[str, Decimal | str | float | None],
    test_date: date | None = None,
    actor: Any = None,
) -> TestResult:
    """Record a result; a confirmed booking with a result is completed (its seat count freed)."""
    unknown = set(scores) - set(SUB_SCORES)
    if unknown:
        raise BookingNotAllowed(f"Unknown score(s): {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        current = fresh(booking)
        if current.status not in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED):
            raise BookingNotAllowed(
                f"Booking {current.reference} is {current.get_status_display().lower()}: only a confirmed or "
                "completed booking can get a result."
            )
        if not current.session.has_started:
            raise BookingNotAllowed(f"{current.session} has not started yet: there is no result to record.")
        result = TestResult(
            booking=current,
            created_by=actor if getattr(actor, "pk", None) else None,
            test_date=timezone.localdate(current.session.starts_at),
        )
        for name, value in scores.items():
            setattr(result, name, None if value in (None, "") else Decimal(str(value)))
        if test_date is not None:
            result.test_date = test_date
        try:
            result.full_clean(exclude=["booking", "created_by"])
        except ValidationError as exc:
            raise BookingNotAllowed(_describe(exc)) from exc
        result.save()
        current.has_result = True
        log_event(
            current,
            "result.recorded",
            actor=actor,
            result=result.pk,
            overall=str(result.overall),
        )
        if current.status == BookingStatus.CONFIRMED:
            _finish(current, to=BookingStatus.COMPLETED, actor=actor, action="booking.completed", via="result")
        publish(
            "result.published",
            {
                "result": result.pk,
                "booking": current.pk,
                "reference": current.reference,
                "overall": str(result.overall) if result.overall is not None else None,
                "summary": f"{current.student}: overall {result.overall}",
            },
            groups=[staff_group()],
        )
    _copy_state(current, booking)
    booking.has_result = True
    return result


def _describe(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)
