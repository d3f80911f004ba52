"""Reminders: scheduled as bookings change state, then claimed, sent and recorded in batches.

Delivery is at-least-once and, short of a crash, exactly once:

1. **Claim** (one transaction, committed before anything is sent): one conditional ``UPDATE`` moves a
   batch of due rows to ``sending`` and stamps ``claimed_at``. On PostgreSQL the batch is picked with
   ``FOR UPDATE SKIP LOCKED``, so two workers take disjoint batches instead of queueing; SQLite
   serialises writing transactions, so the second worker finds the rows no longer pending.
2. **Send** outside any transaction: nothing holds a lock while a mail server is slow.
3. **Record** (one transaction): sent, failed (with the error, ``attempts + 1`` and a
   ``next_attempt_at`` with exponential backoff until ``REMINDER_MAX_ATTEMPTS``), or cancelled when
   the booking no longer wants it. Each write is a compare-and-set on ``status = 'sending'``.

A worker that dies between 1 and 3 leaves its rows in ``sending``; after ``CLAIM_TIMEOUT`` the next
run puts them back to pending and they are sent again. That is the one case where a message can go
out twice, and the price of never losing one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from bookings.conf import conf
from bookings.models import (
    Booking,
    BookingAction,
    BookingEvent,
    BookingStatus,
    Reminder,
    ReminderChannel,
    ReminderStatus,
)
from bookings.notify import channels, messages
from bookings.notify.messages import PAYMENT_KIND
from bookings.selectors import app_users
from bookings.services import sql
from bookings.services.writes import CompiledUpdate
from realtime.events import Event, publish_many

DEFAULT_OFFSETS = {
    "24h": timedelta(hours=24),
    "1h": timedelta(hours=1),
    "15m": timedelta(minutes=15),
}
# Reminders claimed, sent and recorded per round; a crash loses at most this many to the reclaim.
BATCH_SIZE = 1000
# A claim older than this belongs to a worker that died; its reminders are sent again.
CLAIM_TIMEOUT = timedelta(minutes=10)


# --- Scheduling --------------------------------------------------------------------------------


def offsets(product_code: str | None = None) -> dict[str, timedelta]:
    """The offsets before the start: per product (REMINDER_OFFSETS_BY_PRODUCT, keyed by product code),
    else REMINDER_OFFSETS_MINUTES, else 24 h, 1 h and 15 min. Labels become the reminders' kind."""
    current = conf()
    configured = current.reminder_offsets_by_product.get(product_code) if product_code else None
    configured = configured or current.reminder_offsets_minutes
    if not configured:
        return DEFAULT_OFFSETS
    return {label: timedelta(minutes=int(minutes)) for label, minutes in configured.items()}


class Attendance(NamedTuple):
    """What a booking's start reminders are made of (``start_reminders``): from a booking loaded with
    its session and student (``of``), or from the rows a state machine move returns
    (``state_machine.Moved.attendance``), which carry these columns already."""

    booking_id: int
    student_id: int
    email: str
    phone: str
    tutor_user_id: int | None  # the session's tutor's user; None for a session without a tutor
    starts_at: datetime
    product_code: str | None  # read only when per-product offsets exist (``offsets``)

    @classmethod
    def of(cls, booking: Booking) -> Attendance:
        session, student = booking.session, booking.student
        return cls(
            booking_id=booking.pk,
            student_id=booking.student_id,
            email=student.email,
            phone=student.phone,
            tutor_user_id=session.tutor.user_id if session.tutor_id else None,
            starts_at=session.starts_at,
            # Only read the product when per-product offsets exist: booking is the hot path.
            product_code=session.product.code if conf().reminder_offsets_by_product else None,
        )


def schedule_start_reminders(booking: Booking, *, now: datetime | None = None) -> list[Reminder]:
    """Reminders before the start for the student (e-mail, SMS) and the tutor (push), past ones skipped.

    A push reminder is a ``booking.reminder`` event: the tutor's reaches the booking's student as
    well (their app's socket and bell); a session with no tutor (a mock exam) gets one of the
    student's own, so every student's app is reminded."""
    return Reminder.objects.bulk_create(start_reminders(Attendance.of(booking), now=now or timezone.now()))


def start_reminders(attendance: Attendance, *, now: datetime) -> list[Reminder]:
    """The unsaved reminders ``schedule_start_reminders`` creates, for callers that insert in bulk
    (imports, the confirmations of a state machine move)."""
    student = attendance.student_id
    targets: list[tuple[int, str]] = []
    if attendance.email:
        targets.append((student, ReminderChannel.EMAIL))
    if attendance.phone:
        targets.append((student, ReminderChannel.SMS))
    if attendance.tutor_user_id is not None:
        targets.append((attendance.tutor_user_id, ReminderChannel.PUSH))  # the student's app hears it too
    else:
        targets.append((student, ReminderChannel.PUSH))  # no tutor: the student's app hears its own
    return [
        Reminder(
            booking_id=attendance.booking_id,
            recipient_id=recipient,
            channel=channel,
            kind=label,
            scheduled_at=at,
        )
        for label, offset in offsets(attendance.product_code).items()
        if (at := attendance.starts_at - offset) > now
        for recipient, channel in targets
    ]


def cancel_pending_reminders(booking_ids: Iterable[int] | QuerySet[Booking], *, kind: str | None = None) -> int:
    """Cancel what is still to be sent (pending, or failed and waiting for a retry); sent ones stay.

    ``booking_ids`` may be a query of the bookings (a sweep's batch): the database reads it as a
    subquery rather than a list of tens of thousands of ids.
    """
    bookings = booking_ids if isinstance(booking_ids, QuerySet) else list(booking_ids)
    if not isinstance(bookings, QuerySet) and len(bookings) == 1:  # a booking's own move: compiled once
        return _cancel_one(bookings[0]) if kind is None else _cancel_one_kind(bookings[0], kind)
    return _still_to_send(kind, booking_id__in=bookings).update(**CANCELLED)


CANCELLED = {"status": ReminderStatus.CANCELLED, "next_attempt_at": None}


def _still_to_send(kind: str | None, **bookings: Any) -> QuerySet[Reminder]:
    """The bookings' reminders still to be sent (pending, or failed and waiting for a retry), of ``kind``."""
    waiting = Q(status=ReminderStatus.PENDING) | Q(status=ReminderStatus.FAILED, next_attempt_at__isnull=False)
    reminders = Reminder.objects.filter(waiting, **bookings)
    return reminders if kind is None else reminders.filter(kind=kind)


# One booking's (a payment's confirmation, a cancellation): the UPDATE compiled once (services.writes).
_cancel_one = CompiledUpdate(lambda booking_id: (_still_to_send(None, booking_id=booking_id), CANCELLED), int)
_cancel_one_kind = CompiledUpdate(
    lambda booking_id, kind: (_still_to_send(kind, booking_id=booking_id), CANCELLED), int, str
)


def cancel_payment_reminders(booking_ids: Iterable[int]) -> int:
    """A paid (confirmed) booking needs no reminder to pay."""
    return cancel_pending_reminders(booking_ids, kind=PAYMENT_KIND)


def payment_lead() -> timedelta:
    return conf().payment_reminder_lead


def schedule_payment_reminders(*, now: datetime | None = None, booking_ids: Sequence[int] | None = None) -> int:
    """Create the payment reminder (e-mail and SMS) of every pending booking whose deadline is now
    within PAYMENT_REMINDER_HOURS_BEFORE_EXPIRY; returns how many reminders were created.

    Created when due rather than at booking time: most bookings are paid or cancelled long before,
    and then there is nothing to create, cancel or move. A booking whose whole payment window is
    shorter than the lead gets none (it would be reminded the moment it was made). Idempotent: a
    booking that has a payment reminder, whatever its state, gets no second one.
    """
    now = now or timezone.now()
    lead = payment_lead()
    if lead <= timedelta(0):
        return 0
    with transaction.atomic():
        # Two workers at once would both see "no payment reminder yet" and both insert one: the
        # second waits here, and its query then sees the first one's rows.
        sql.advisory_xact_lock("seatdesk.payment_reminders")
        due = Booking.objects.filter(
            status=BookingStatus.PENDING,
            expires_at__gt=now,
            expires_at__lte=now + lead,
            created_at__lt=F("expires_at") - lead,
        ).exclude(reminders__kind=PAYMENT_KIND)
        if booking_ids is not None:
            due = due.filter(pk__in=list(booking_ids))
        rows = due.values_list("pk", "student_id", "student__email", "student__phone", "expires_at")
        reminders = [
            Reminder(
                booking_id=pk, recipient_id=student, channel=channel, kind=PAYMENT_KIND, scheduled_at=expires - lead
            )
            for pk, student, email, phone, expires in rows
            for channel, address in ((ReminderChannel.EMAIL, email), (ReminderChannel.SMS, phone))
            if address
        ]
        Reminder.objects.bulk_create(reminders, batch_size=BATCH_SIZE)
    return len(reminders)


def schedule_payment_reminder(booking: Booking, *, now: datetime | None = None) -> int:
    """``schedule_payment_reminders`` for one booking."""
    return schedule_payment_reminders(now=now, booking_ids=[booking.pk])


# --- Sending -----------------------------------------------------------------------------------


@dataclass
class DispatchReport:
    """What one run did. ``refused`` holds messages for staff (send again on a reminder that cannot go)."""

    sent: int = 0
    failed: int = 0
    gave_up: int = 0  # failed for the last time: REMINDER_MAX_ATTEMPTS reached
    skipped: int = 0  # cancelled at send time: the booking no longer wants it
    reclaimed: int = 0  # stale claims of a dead worker put back to pending
    scheduled: int = 0  # payment reminders created by this run
    refused: list[str] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return self.sent + self.failed + self.skipped

    def __str__(self) -> str:
        text = f"{self.sent} sent, {self.failed} failed ({self.gave_up} gave up), {self.skipped} skipped"
        if self.reclaimed:
            text += f", {self.reclaimed} reclaimed from a stopped worker"
        if self.scheduled:
            text += f", {self.scheduled} payment reminder(s) scheduled"
        return text

    def add(self, other: DispatchReport) -> None:
        for name in ("sent", "failed", "gave_up", "skipped", "reclaimed", "scheduled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.refused += other.refused


def max_attempts() -> int:
    return conf().reminder_max_attempts


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: base, 2 × base, 4 × base ... after the 1st, 2nd, 3rd failure (never under a minute,
    so one run cannot spin on a reminder that keeps failing)."""
    delay = conf().reminder_retry_backoff * 2 ** max(attempts - 1, 0)
    return max(delay, timedelta(minutes=1))


def send_due_reminders(*, now: datetime | None = None, limit: int | None = None) -> DispatchReport:
    """Send every pending reminder whose time has come (at most ``limit``). Safe on two workers at once."""
    now = now or timezone.now()
    report = DispatchReport(reclaimed=_release_stale_claims(now), scheduled=schedule_payment_reminders(now=now))
    _dispatch(lambda size: _claim_due(now, size), now, limit, report)
    return report


def retry_failed_reminders(*, now: datetime | None = None, limit: int | None = None) -> DispatchReport:
    """Send again the failed reminders whose backoff has elapsed and that have attempts left."""
    now = now or timezone.now()
    report = DispatchReport()
    _dispatch(lambda size: _claim_retries(now, size), now, limit, report)
    return report


def send_again(reminders: Iterable[Reminder], *, actor: Any = None, now: datetime | None = None) -> DispatchReport:
    """Staff's "send again": a sent or failed reminder is sent now, through the same claim and record.

    The attempt limit does not apply (a person decided); a reminder whose booking no longer wants it
    (cancelled, started, paid) is refused with the reason, and left as it was.
    """
    now = now or timezone.now()
    report = DispatchReport()
    chosen = list(Reminder.objects.filter(pk__in=[r.pk for r in reminders]).select_related(*RELATED))
    ready = []
    for reminder in chosen:
        if reminder.status not in (ReminderStatus.SENT, ReminderStatus.FAILED):
            report.refused.append(
                f"{_label(reminder)} is {reminder.get_status_display().lower()}: only sent or "
                "failed reminders can be sent again."
            )
        elif reason := _not_wanted(reminder, now):
            report.refused.append(f"{_label(reminder)} cannot be sent again: {reason}.")
        else:
            ready.append(reminder.pk)
    if not ready:
        return report
    with transaction.atomic():
        reset = list(
            Reminder.objects.filter(pk__in=ready, status__in=[ReminderStatus.SENT, ReminderStatus.FAILED]).values_list(
                "pk", "booking_id", "channel", "kind"
            )
        )
        Reminder.objects.filter(pk__in=[row[0] for row in reset]).update(
            status=ReminderStatus.PENDING, scheduled_at=now, next_attempt_at=None, claimed_at=None
        )
        BookingEvent.objects.bulk_create(
            BookingEvent(
                booking_id=booking_id,
                action=BookingAction.REMINDER_RESENT,
                actor=actor if getattr(actor, "pk", None) else None,
                data={"reminder": pk, "channel": channel, "kind": kind},
                created_at=now,
            )
            for pk, booking_id, channel, kind in reset
        )
    ids = [row[0] for row in reset]
    _dispatch(lambda size: _claim_due(now, size, ids), now, None, report)
    return report


def _label(reminder: Reminder) -> str:
    return f"Reminder {reminder.kind} ({reminder.get_channel_display()}) of {reminder.booking.reference}"


def _dispatch(claim: Callable[[int], list[int]], now: datetime, limit: int | None, report: DispatchReport) -> None:
    remaining = limit
    while remaining is None or remaining > 0:
        size = BATCH_SIZE if remaining is None else min(BATCH_SIZE, remaining)
        with transaction.atomic():
            ids = claim(size)
        if not ids:
            return
        _deliver(ids, now, report)
        if remaining is not None:
            remaining -= len(ids)
        if len(ids) < size:
            return


def _release_stale_claims(now: datetime) -> int:
    return Reminder.objects.filter(status=ReminderStatus.SENDING, claimed_at__lte=now - CLAIM_TIMEOUT).update(
        status=ReminderStatus.PENDING, claimed_at=None
    )


def _claim_due(now: datetime, size: int, ids: Sequence[int] | None = None) -> list[int]:
    due = Reminder.objects.filter(status=ReminderStatus.PENDING, scheduled_at__lte=now)
    if ids is not None:
        due = due.filter(pk__in=list(ids))
    return _claim(due.order_by("scheduled_at", "pk"), now, size)


def _claim_retries(now: datetime, size: int) -> list[int]:
    retries = Reminder.objects.filter(
        status=ReminderStatus.FAILED, next_attempt_at__lte=now, attempts__lt=max_attempts()
    ).order_by("next_attempt_at", "pk")
    return _claim(retries, now, size)


def _claim(candidates: QuerySet[Reminder], now: datetime, size: int) -> list[int]:
    """Move up to ``size`` of ``candidates`` to sending; returns their ids. Called in a transaction.

    The rows are locked as they are read, skipping those another worker holds (``SKIP LOCKED`` on
    PostgreSQL; SQLite's IMMEDIATE transactions serialise the workers), and the UPDATE re-checks
    ``status <> 'sending'``: a compare-and-set, so no reminder is claimed twice.
    """
    ids = list(candidates.select_for_update(skip_locked=True).values_list("pk", flat=True)[:size])
    if not ids:
        return []
    claimed = Reminder.objects.filter(pk__in=ids).exclude(status=ReminderStatus.SENDING)
    claimed.update(status=ReminderStatus.SENDING, claimed_at=now)
    return ids


RELATED = ("booking__session__product", "booking__session__tutor__user", "recipient")


def _not_wanted(reminder: Reminder, now: datetime) -> str:
    """Why this reminder should not go out any more ("" if it should)."""
    booking = reminder.booking
    if reminder.kind == PAYMENT_KIND:
        if booking.status != BookingStatus.PENDING:
            return f"the booking is {booking.get_status_display().lower()}"
        if booking.expires_at is not None and booking.expires_at <= now:
            return "the payment deadline has passed"
        return ""
    if booking.status != BookingStatus.CONFIRMED:
        return f"the booking is {booking.get_status_display().lower()}"
    if booking.session.starts_at <= now:
        return "the session has started"
    return ""


def _deliver(ids: list[int], now: datetime, report: DispatchReport) -> None:
    """Render and send one claimed batch, then record every outcome in one transaction."""
    reminders = list(Reminder.objects.filter(pk__in=ids).select_related(*RELATED))
    skipped: dict[str, list[int]] = defaultdict(list)
    emails, texts, pushes = [], [], []
    outcomes: channels.Outcome = {}
    # Whose bell keeps a push reminder: one query for the batch's students (selectors.app_users).
    readers = app_users(r.booking.student_id for r in reminders if r.channel == ReminderChannel.PUSH)
    for reminder in reminders:
        if reason := _not_wanted(reminder, now):
            skipped[f"Not sent: {reason}."].append(reminder.pk)
            continue
        try:
            if reminder.channel == ReminderChannel.EMAIL:
                if not reminder.recipient.email:
                    raise ValueError("the recipient has no e-mail address")
                emails.append((reminder.pk, messages.email_for(reminder, now)))
            elif reminder.channel == ReminderChannel.SMS:
                if not reminder.recipient.phone:
                    raise ValueError("the recipient has no phone number")
                texts.append((reminder.pk, messages.sms_for(reminder, now)))
            else:
                pushes.append((reminder.pk, messages.push_event_for(reminder, now, app_users=readers)))
        except Exception as exc:  # a reminder that cannot be rendered fails alone
            outcomes[reminder.pk] = channels.error_text(exc)
    outcomes.update(channels.send_emails(emails))
    outcomes.update(channels.send_sms(texts))
    _record(reminders, outcomes, pushes, skipped, now, report)


def _record(
    reminders: list[Reminder],
    outcomes: channels.Outcome,
    pushes: list[tuple[int, Event]],
    skipped: dict[str, list[int]],
    now: datetime,
    report: DispatchReport,
) -> None:
    by_id = {reminder.pk: reminder for reminder in reminders}
    sent = [pk for pk, error in outcomes.items() if not error] + [pk for pk, _ in pushes]
    failed = [by_id[pk] for pk, error in outcomes.items() if error]
    limit = max_attempts()
    for reminder in failed:
        reminder.status = ReminderStatus.FAILED
        reminder.attempts += 1
        reminder.last_error = outcomes[reminder.pk]
        reminder.claimed_at = None
        reminder.next_attempt_at = now + retry_delay(reminder.attempts) if reminder.attempts < limit else None
    claimed = Reminder.objects.filter(status=ReminderStatus.SENDING)
    with transaction.atomic():
        claimed.filter(pk__in=sent).update(
            status=ReminderStatus.SENT,
            sent_at=now,
            attempts=F("attempts") + 1,
            last_error="",
            claimed_at=None,
            next_attempt_at=None,
        )
        claimed.bulk_update(failed, ["status", "attempts", "last_error", "claimed_at", "next_attempt_at"])
        for reason, pks in skipped.items():
            claimed.filter(pk__in=pks).update(status=ReminderStatus.CANCELLED, last_error=reason, claimed_at=None)
        publish_many([event for _, event in pushes])
        events = [_event(by_id[pk], BookingAction.REMINDER_SENT, now) for pk in sent]
        events += [
            _event(r, BookingAction.REMINDER_FAILED, now, error=r.last_error, final=r.next_attempt_at is None)
            for r in failed
        ]
        BookingEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)
    report.sent += len(sent)
    report.failed += len(failed)
    report.gave_up += sum(1 for r in failed if r.next_attempt_at is None)
    report.skipped += sum(len(pks) for pks in skipped.values())


def _event(reminder: Reminder, action: BookingAction, now: datetime, **data: Any) -> BookingEvent:
    return BookingEvent(
        booking_id=reminder.booking_id,
        action=action,
        data={"reminder": reminder.pk, "channel": reminder.channel, "kind": reminder.kind, **data},
        created_at=now,
    )
