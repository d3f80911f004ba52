"""Feedback on writing and speaking: a submission is requested, assigned to a tutor, scored, completed.

A request is open until it is completed; after that its tutor, score and comment are final. Each
change is a compare-and-set on the row (``completed=False`` and what was read), so a completion
landing between another person's read and write makes that write fail instead of undoing it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from backoffice.models import Role
from bookings.errors import BookingNotAllowed, InvalidTransition
from bookings.models import Booking, FeedbackKind, FeedbackRequest, Scoring, Tutor
from bookings.models.results import validate_band
from bookings.services._common import log_event
from realtime.events import publish, tutor_group

# The score column holds three digits, one after the point.
RAW_SCORE_MAX = Decimal("99.9")


def request_feedback(
    *,
    student: Any,
    submission: str,
    kind: str = FeedbackKind.WRITING,
    task: str = "",
    booking: Booking | None = None,
    tutor: Tutor | None = None,
    actor: Any = None,
) -> FeedbackRequest:
    """Take a student's submission; with ``tutor``, assign it at once (the tutor is notified)."""
    if getattr(student, "role", None) != Role.STUDENT:
        raise BookingNotAllowed(f"{student} is not a student.")
    if not (submission or "").strip():
        raise BookingNotAllowed("The submission is empty: paste the text or a link to the recording.")
    if booking is not None and booking.student_id != student.pk:
        raise BookingNotAllowed(f"Booking {booking.reference} belongs to another student.")
    with transaction.atomic():
        feedback = FeedbackRequest.objects.create(
            student=student, booking=booking, kind=kind, task=task, submission=submission
        )
        if booking is not None:
            log_event(booking, "feedback.requested", actor=actor, feedback=feedback.pk, kind=kind)
        if tutor is not None:
            assign_feedback(feedback, tutor=tutor, actor=actor)
    return feedback


def assign_feedback(request: FeedbackRequest, *, tutor: Tutor, actor: Any = None) -> FeedbackRequest:
    """Give an open request to ``tutor`` (or move it to them) and tell them it waits."""
    if not tutor.is_active:
        raise BookingNotAllowed(f"{tutor} is not an active tutor.")
    with transaction.atomic():
        current = _read(request)
        if current.completed:
            raise InvalidTransition(f"{_name(current)} is completed: it cannot be reassigned.")
        if current.tutor_id == tutor.pk:
            raise BookingNotAllowed(f"{_name(current)} is already assigned to {tutor}.")
        _swap(current, {"tutor_id": current.tutor_id}, tutor=tutor)
        if current.booking_id:
            log_event(
                current.booking,
                "feedback.assigned",
                actor=actor,
                feedback=current.pk,
                tutor=tutor.pk,
                previous_tutor=current.tutor_id,
            )
        publish(
            "feedback.requested",
            {
                "feedback": current.pk,
                "kind": current.kind,
                "student": str(current.student),
                "task": current.task,
                "booking": current.booking.reference if current.booking_id else None,
                "summary": f"{current.get_kind_display()} from {current.student} to review",
            },
            groups=[tutor_group(tutor.user_id)],
            recipients=[tutor.user],
        )
    request.tutor = tutor
    return request


def score_feedback(
    request: FeedbackRequest,
    *,
    score: Decimal | str | float,
    comment: str = "",
    actor: Any = None,
) -> FeedbackRequest:
    """Set (or change) the score and comment of an open request."""
    with transaction.atomic():
        current = _read(request)
        if current.completed:
            raise InvalidTransition(f"{_name(current)} is completed: its score cannot change.")
        _check_reviewer(actor, current)
        value = _valid_score(current, score)
        _swap(current, {}, score=value, comment=comment)
        if current.booking_id:
            log_event(current.booking, "feedback.scored", actor=actor, feedback=current.pk, score=str(value))
    request.score, request.comment = value, comment
    return request


def complete_feedback(request: FeedbackRequest, *, actor: Any = None) -> FeedbackRequest:
    """Close a scored request: the student's feedback is final."""
    with transaction.atomic():
        current = _read(request)
        if current.completed:
            raise InvalidTransition(f"{_name(current)} is already completed.")
        _check_reviewer(actor, current)
        if current.score is None:
            raise BookingNotAllowed(f"{_name(current)} has no score yet: score it before completing it.")
        now = timezone.now()
        _swap(current, {"score": current.score}, completed=True, completed_at=now)
        if current.booking_id:
            log_event(current.booking, "feedback.completed", actor=actor, feedback=current.pk, score=str(current.score))
    request.completed, request.completed_at = True, now
    return request


def _read(request: FeedbackRequest) -> FeedbackRequest:
    return FeedbackRequest.objects.select_related("student", "tutor__user", "booking__session__product").get(
        pk=request.pk
    )


def _swap(current: FeedbackRequest, expected: dict[str, Any], **changes: Any) -> None:
    """Write ``changes`` only if the row is still open and still holds ``expected`` (what was read)."""
    if not FeedbackRequest.objects.filter(pk=current.pk, completed=False, **expected).update(**changes):
        raise InvalidTransition(f"{_name(current)} was changed by someone else meanwhile: reload it and try again.")


def _name(request: FeedbackRequest) -> str:
    return f"Feedback request #{request.pk}"


def _check_reviewer(actor: Any, request: FeedbackRequest) -> None:
    """A tutor reviews only what is assigned to them; staff review anything."""
    if getattr(actor, "role", None) != Role.TUTOR or actor.is_superuser:
        return
    if request.tutor is None or request.tutor.user_id != actor.pk:
        raise BookingNotAllowed(f"{_name(request)} is not assigned to you.")


def _valid_score(request: FeedbackRequest, score: Any) -> Decimal:
    """The score on the scale of the booked product: IELTS bands unless the product is raw-scored."""
    try:
        value = Decimal(str(score))
    except (InvalidOperation, ValueError) as exc:
        raise BookingNotAllowed(f"“{score}” is not a score.") from exc
    if not value.is_finite():
        raise BookingNotAllowed(f"“{score}” is not a score.")
    if request.booking_id and request.booking.session.product.scoring == Scoring.RAW:
        if not (Decimal(0) <= value <= RAW_SCORE_MAX) or value != value.quantize(Decimal("0.1")):
            raise BookingNotAllowed(f"{value} is not a raw score: use 0–{RAW_SCORE_MAX} with at most one decimal.")
        return value
    # Writing and speaking are marked in IELTS bands, also for unscored lessons.
    try:
        validate_band(value)
    except ValidationError as exc:
        raise BookingNotAllowed(exc.messages[0]) from exc
    return value
