"""Recording and correcting test results."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from backoffice.models import Role, User
from bookings.errors import BookingNotAllowed
from bookings.models import Booking, BookingAction, BookingStatus, TestResult
from bookings.models.results import SUB_SCORES
from bookings.selectors import app_users
from bookings.services import state_machine
from bookings.services._common import fresh, log_event
from bookings.services.transitions import copy_state, mark_finished
from realtime.events import publish, staff_group, student_group

Score = Decimal | str | float | int | None
TENTH = Decimal("0.1")


def record_result(
    booking: Booking,
    *,
    scores: dict[str, Score],
    test_date: date | None = None,
    actor: User | None = None,
) -> TestResult:
    """Record a result; a confirmed booking with a result is completed (its seat count freed)."""
    unknown = set(scores) - set(SUB_SCORES)
    if unknown:
        raise BookingNotAllowed(f"Unknown score(s): {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        current = fresh(booking)
        _check_tutor(actor, current)
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
            setattr(result, name, _decimal(value))
        if test_date is not None:
            result.test_date = test_date
        _validate(result)
        result.save()
        current.has_result = True
        log_event(
            current,
            BookingAction.RESULT_RECORDED,
            actor=actor,
            result=result.pk,
            overall=str(result.overall),
        )
        if current.status == BookingStatus.CONFIRMED:
            mark_finished([current], state_machine.COMPLETE, actor=actor, via="result")
        _publish(result, current)
    copy_state(current, booking)
    booking.has_result = True
    return result


def correct_result(
    result: TestResult,
    *,
    listening: Score,
    reading: Score,
    writing: Score,
    speaking: Score,
    test_date: date | None = None,
    actor: User | None = None,
) -> TestResult:
    """Correct a recorded result's scores (and test date): the overall is recomputed, the booking's
    history keeps the old and new values, and the result is published again.

    Returns ``result`` updated; a correction that changes nothing writes nothing.
    """
    scores = {"listening": listening, "reading": reading, "writing": writing, "speaking": speaking}
    with transaction.atomic():
        # The row lock keeps two corrections made at once from both logging the same "old" scores.
        current = (
            TestResult.objects.select_for_update(of=("self",))
            .select_related("booking__session__product", "booking__session__tutor", "booking__student")
            .get(pk=result.pk)
        )
        _check_tutor(actor, current.booking)
        old = _values(current)
        for name, value in scores.items():
            setattr(current, name, _decimal(value))
        if test_date is not None:
            current.test_date = test_date
        _validate(current)
        current.overall = current.compute_overall()
        new = _values(current)
        if new != old:
            current.save(update_fields=[*SUB_SCORES, "test_date"])  # save() adds the recomputed overall
            log_event(current.booking, BookingAction.RESULT_CORRECTED, actor=actor, result=current.pk, old=old, new=new)
            _publish(current, current.booking, corrected=True)
    for name in (*SUB_SCORES, "overall", "test_date"):
        setattr(result, name, getattr(current, name))
    return result


def _check_tutor(actor: User | None, booking: Booking) -> None:
    """Tutors score their own sessions' bookings only; staff score any."""
    if actor is None or actor.role != Role.TUTOR or actor.is_superuser:
        return
    tutor = booking.session.tutor
    if tutor is None or tutor.user_id != actor.pk:
        raise BookingNotAllowed(f"Booking {booking.reference} is not from one of your sessions.")


def _decimal(value: Score) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _validate(result: TestResult) -> None:
    try:
        result.full_clean(exclude=["booking", "created_by"])
    except ValidationError as exc:
        raise BookingNotAllowed(_describe(exc)) from exc


def _values(result: TestResult) -> dict[str, str | None]:
    """The scores, overall and test date as history data (JSON); "7" and "7.0" read the same."""
    values: dict[str, str | None] = {
        name: None if getattr(result, name) is None else str(Decimal(getattr(result, name)).quantize(TENTH))
        for name in (*SUB_SCORES, "overall")
    }
    values["test_date"] = result.test_date.isoformat()
    return values


def _publish(result: TestResult, booking: Booking, **extra: Any) -> None:
    overall = str(result.overall) if result.overall is not None else None
    publish(
        "result.published",
        {
            "result": result.pk,
            "booking": booking.pk,
            "reference": booking.reference,
            "overall": overall,
            "summary": f"{booking.student}: overall {result.overall}",
            **extra,
        },
        # The student's app hears it, and finds it in their notifications.
        groups=[staff_group(), student_group(booking.student_id)],
        recipients=sorted(app_users([booking.student_id])),  # their app's bell, if they use the app
    )


def _describe(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)
