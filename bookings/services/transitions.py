"""Status changes of one existing booking: confirm, cancel, reschedule, complete, no-show.

Each service re-reads the booking, asks the model whether the change is allowed now
(``Booking.can_confirm`` ...), and moves it with the state machine's set-based core
(``bookings.services.state_machine.move``) -- the same core the expiry sweep and auto-completion
use for thousands of rows. The ``mark_*`` functions are those moves for callers already inside
a transaction with a fresh booking (payments, refunds, results, a session's cancellation).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from backoffice.models import User
from bookings.conf import conf
from bookings.errors import AlreadyBooked, BookingNotAllowed, InvalidTransition
from bookings.models import Booking, BookingAction, BookingStatus, CancelReason, Session
from bookings.models.tutors import FREE_CANCELLATION_CUTOFF, CancellationPolicy
from bookings.services import state_machine
from bookings.services._common import fresh, log_event, publish_booking, refusal
from bookings.services.booking import book_into, is_active_booking_violation
from bookings.services.seats import publish_slot


def confirm(booking: Booking, *, actor: User | None = None) -> Booking:
    with transaction.atomic():
        current = fresh(booking)
        if not current.can_confirm(timezone.now()):
            raise refusal(current, BookingStatus.CONFIRMED)
        mark_confirmed(current, actor=actor, via="staff" if actor is not None else "system")
    copy_state(current, booking)
    return current


def mark_confirmed(booking: Booking, *, actor: User | None, via: str, now: datetime | None = None, **data: Any) -> None:
    """Confirm a pending booking read in this transaction: history, reminders, ``booking.confirmed``."""
    _move_read(state_machine.CONFIRM, [booking], now=now, actor=actor, data={"via": via, **data})


def cancellation_policy(session: Session) -> str:
    if session.tutor_id:
        return session.tutor.cancellation_policy
    return conf().default_cancellation_policy


def free_cancellation_until(session: Session) -> datetime:
    """Latest moment a student may cancel this session's booking under its policy."""
    return session.starts_at - FREE_CANCELLATION_CUTOFF[CancellationPolicy(cancellation_policy(session))]


def cancel(
    booking: Booking, *, reason: str, actor: User | None = None, override_policy: bool = False, note: str = ""
) -> Booking:
    """Cancel a pending or confirmed booking and release its seat.

    A student's cancellation after the free-cancellation cut-off of the policy is refused unless
    a member of staff overrides it (``override_policy=True``); the override is kept in the history,
    and so is ``note`` (what the student said on the phone, say). ``reason="expired"`` is the
    single-booking expiry: the sweep's move for one row, allowed once the deadline has passed.
    """
    if reason not in CancelReason.values:
        raise BookingNotAllowed(f"“{reason}” is not a cancellation reason.")
    with transaction.atomic():
        current = fresh(booking)
        now = timezone.now()
        data: dict[str, Any] = {}
        if reason == CancelReason.EXPIRED and current.holds_seat and not current.can_expire(now):
            # Expiry is the system's verdict on an unpaid deadline, not a reason staff can pick.
            raise BookingNotAllowed(f"Booking {current.reference} has not passed its payment deadline.")
        if not current.can_cancel(now):
            raise refusal(current, BookingStatus.CANCELLED)
        if reason == CancelReason.STUDENT:
            data = _check_policy(current, actor=actor, override=override_policy, now=now)
        if note.strip():
            data["note"] = note.strip()
        mark_cancelled([current], reason=reason, actor=actor, now=now, **data)
    copy_state(current, booking)
    return current


def _check_policy(booking: Booking, *, actor: User | None, override: bool, now: datetime) -> dict[str, Any]:
    session = booking.session
    policy = cancellation_policy(session)
    cutoff = free_cancellation_until(session)
    if now <= cutoff:
        return {"policy": policy}
    if not override:
        raise BookingNotAllowed(
            f"Free cancellation under the {policy} policy ended at {timezone.localtime(cutoff):%d %b %H:%M}. "
            "Staff can override the policy."
        )
    if actor is None or not getattr(actor, "is_staff", False):
        raise BookingNotAllowed("Only staff can override the cancellation policy.")
    return {"policy": policy, "late": True, "policy_overridden": True}


def mark_cancelled(
    bookings: Sequence[Booking],
    *,
    reason: str,
    actor: User | None,
    now: datetime | None = None,
    publish: bool = True,
    announce: dict[str, Any] | None = None,
    **data: Any,
) -> None:
    """Cancel seat-holding bookings read in this transaction (all of them, or none and
    InvalidTransition); their seats are released and the instances updated."""
    now = now or timezone.now()
    targets = Booking.objects.filter(pk__in=[booking.pk for booking in bookings])
    expect = len(bookings)
    cancel_bookings(
        targets, reason=reason, actor=actor, now=now, expect=expect, publish=publish, announce=announce, **data
    )
    _moved(bookings, state_machine.cancellation(reason).changes(now, _cancelled(reason, now)))


def cancel_bookings(
    targets: QuerySet[Booking],
    *,
    reason: str,
    actor: User | None,
    now: datetime,
    limit: int | None = None,
    expect: int | None = None,
    publish: bool = True,
    announce: dict[str, Any] | None = None,
    **data: Any,
) -> list[state_machine.Moved]:
    """The cancellation of a set of bookings: one booking's, a session's, or the expiry sweep's
    (``reason="expired"``, recorded and announced as ``booking.expired``).

    ``data`` goes into each history row with the reason, ``announce`` (else the reason) into each
    event; ``publish=False`` when the caller announces the change its own way.
    """
    return state_machine.move(
        state_machine.cancellation(reason),
        targets,
        now=now,
        limit=limit,
        expect=expect,
        actor=actor,
        fields=_cancelled(reason, now),
        data={"reason": reason, **data},
        announce={"reason": reason} if announce is None else announce,
        publish=publish,
    )


def _cancelled(reason: str, now: datetime) -> dict[str, Any]:
    return {"cancel_reason": reason, "cancelled_at": now}


def reschedule(booking: Booking, *, to_session: Session, actor: User | None = None) -> Booking:
    """Move a booking to another session in one transaction; returns the new booking.

    The old booking is cancelled (reason rescheduled) and a new one holds a seat in ``to_session``,
    keeping status, price and payment deadline; the old booking's payments move to the new one
    (``move_payments``). If the target has no seat, nothing changes.
    """
    from bookings.services.payments import move_payments  # payments imports this module

    try:
        with transaction.atomic():
            # Locked first, as every writer of a booking's money does: no payment lands on the old
            # booking between reading its status and moving its payments.
            old = fresh(booking, lock=True)
            if not old.can_reschedule(timezone.now()):
                raise InvalidTransition(
                    f"Booking {old.reference} is {old.get_status_display().lower()}: it cannot be rescheduled."
                )
            if to_session.pk == old.session_id:
                raise BookingNotAllowed(f"Booking {old.reference} is already in that session.")
            if to_session.product_id != old.session.product_id:
                # The price and the payment were for this product; a different one is a new booking.
                raise BookingNotAllowed(
                    f"Booking {old.reference} is for {old.session.product}: it can only move to another "
                    f"{old.session.product} session."
                )
            previous_status, previous_expiry = old.status, old.expires_at
            mark_cancelled([old], reason=CancelReason.RESCHEDULED, actor=actor, publish=False)
            new = book_into(
                session_id=to_session.pk,
                student=old.student,
                payment_method=old.payment_method,
                actor=actor,
                source=old.source,
                rescheduled_from=old,
                keep_status=previous_status,
                keep_expires_at=previous_expiry,
            )
            log_event(
                old,
                BookingAction.RESCHEDULED,
                actor=actor,
                to=new.reference,
                to_session=to_session.pk,
            )
            move_payments(old, new, actor=actor)
            publish_booking(
                BookingAction.RESCHEDULED,
                new,
                from_reference=old.reference,
                from_session=old.session_id,
            )
            publish_slot(old.session_id)
    except IntegrityError as exc:
        if is_active_booking_violation(exc):
            raise AlreadyBooked(f"{booking.student} already has a booking for that session.") from exc
        raise
    copy_state(old, booking)
    to_session.seats_taken = new.session.seats_taken
    return new


def complete(booking: Booking, *, actor: User | None = None) -> Booking:
    """A confirmed booking whose session has started (or that has a result) becomes completed."""
    with transaction.atomic():
        current = fresh(booking)
        if not current.can_complete(timezone.now()):
            if current.status == BookingStatus.CONFIRMED:
                raise BookingNotAllowed(f"{current.session} has not started yet: the booking cannot be completed.")
            raise refusal(current, BookingStatus.COMPLETED)
        mark_finished([current], state_machine.COMPLETE, actor=actor)
    copy_state(current, booking)
    return current


def mark_no_show(booking: Booking, *, actor: User | None = None) -> Booking:
    with transaction.atomic():
        current = fresh(booking)
        if not current.can_mark_no_show(timezone.now()):
            if current.status == BookingStatus.CONFIRMED:
                raise BookingNotAllowed(f"{current.session} has not started yet: nobody can be a no-show.")
            raise refusal(current, BookingStatus.NO_SHOW)
        mark_finished([current], state_machine.NO_SHOW, actor=actor)
    copy_state(current, booking)
    return current


def mark_finished(
    bookings: Sequence[Booking],
    transition: state_machine.Transition,
    *,
    actor: User | None,
    now: datetime | None = None,
    **data: Any,
) -> None:
    """Complete (or mark as no-shows) confirmed bookings read in this transaction; seats are freed."""
    _move_read(transition, bookings, now=now, actor=actor, data=data)


def finish_bookings(
    targets: QuerySet[Booking],
    transition: state_machine.Transition,
    *,
    actor: User | None,
    now: datetime,
    limit: int | None = None,
    expect: int | None = None,
    publish: bool = True,
    **data: Any,
) -> list[state_machine.Moved]:
    """The completion (or no-show) of a set of confirmed bookings: one booking's, auto-completion's,
    an import of results'."""
    return state_machine.move(
        transition, targets, now=now, limit=limit, expect=expect, actor=actor, data=data, publish=publish
    )


def _move_read(
    transition: state_machine.Transition,
    bookings: Sequence[Booking],
    *,
    now: datetime | None,
    actor: User | None,
    data: dict[str, Any],
) -> None:
    """``move`` for bookings the caller has read: all of them move (or none, and InvalidTransition),
    and the caller's instances get the new values."""
    now = now or timezone.now()
    targets = [booking.pk for booking in bookings]
    state_machine.move(transition, targets, now=now, expect=len(bookings), actor=actor, data=data)
    _moved(bookings, transition.changes(now))


def _moved(bookings: Sequence[Booking], changes: dict[str, Any]) -> None:
    for booking in bookings:
        for name, value in changes.items():
            setattr(booking, name, value)


def copy_state(source: Booking, target: Booking) -> None:
    """Let a caller's instance reflect what the service wrote."""
    if source is target:
        return
    for field in (
        "status",
        "cancel_reason",
        "expires_at",
        "confirmed_at",
        "cancelled_at",
        "needs_refund",
        "updated_at",
    ):
        setattr(target, field, getattr(source, field))
