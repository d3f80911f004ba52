"""Set-based writes for spreadsheet imports: the rules of the one-at-a-time services, in bulk.

``bookings.imports`` reads and checks a file; these functions write what it found, a batch at a
time, so 50,000 rows cost a few hundred statements instead of a few per row. Each keeps the rules
of the service it mirrors (``book``, ``confirm``, ``change_capacity``, ``record_result``,
``correct_result``) and reuses their pieces.

Events: an import publishes one ``slot.updated`` per session it touched and the caller publishes
one ``import.finished``; it does *not* publish a ``booking.created`` (or ``result.published``) per
row -- tens of thousands of toasts and notifications would bury the people they are meant for.
The history (``BookingEvent``) is still written for every booking, with source ``import``.
"""

from __future__ import annotations

import copy
import secrets
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone

from backoffice.models import Role, User
from bookings.errors import AlreadyBooked, BookingNotAllowed
from bookings.models import (
    Booking,
    BookingAction,
    BookingEvent,
    BookingSource,
    BookingStatus,
    ConfirmedVia,
    InitialState,
    PaymentMethod,
    Reminder,
    Session,
    SessionAction,
    SessionSource,
    SessionStatus,
    TestResult,
)
from bookings.models.bookings import REFERENCE_ALPHABET, REFERENCE_LENGTH
from bookings.models.results import SUB_SCORES
from bookings.services import schedule
from bookings.services import session_history as history
from bookings.services._common import known_actor, slot_data
from bookings.services.booking import check_bookable, creation_history, is_active_booking_violation
from bookings.services.reminders import Attendance, start_reminders
from bookings.services.results import _values
from bookings.services.seats import publish_slots, slots, take_seats
from bookings.services.state_machine import COMPLETE
from bookings.services.transitions import finish_bookings

# Rows per INSERT batch: big enough that round trips do not dominate, small enough that the ORM
# objects of one batch are all that is in memory at once.
BATCH_SIZE = 2000
# Sessions per conditional seat UPDATE (each costs five parameters).
SEAT_BATCH = 500


def _chunks[T](items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- Bookings -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookingRequest:
    """One booking to make: ``session`` with its product and tutor loaded, ``confirm`` if asked for."""

    session: Session
    student: Any
    payment_method: str = PaymentMethod.CASH
    confirm: bool = False


def book_many(
    requests: Sequence[BookingRequest],
    *,
    actor: User | None = None,
    now: datetime | None = None,
    source: str = BookingSource.IMPORT,
) -> int:
    """``book()`` (and ``confirm()`` where asked) for many bookings in one transaction; all or nothing.

    The same rules: the session must be bookable (open, not started, the tutor's notice), a student
    holds one active booking per session (the partial unique index decides, as for ``book``), the
    price is snapshotted, the booking starts as ``Booking.initial_state`` decides (asked once per
    session), confirmed bookings get their start reminders, and every booking gets the history
    ``book()`` writes. Seats are taken last, per session, with ``seats.take_seats``: a booking made
    through the admin at the same moment either lands first -- and this raises SessionFull, rolling
    the import back -- or waits for the import to commit and then finds the seats gone. Returns how
    many were made.
    """
    now = now or timezone.now()
    methods = set(PaymentMethod.values)
    checked: set[int] = set()
    for request in requests:
        if request.payment_method not in methods:
            raise BookingNotAllowed(f"“{request.payment_method}” is not a payment method.")
        if request.session.pk not in checked:
            check_bookable(request.session, now=now)
            checked.add(request.session.pk)
    wanted = Counter(request.session.pk for request in requests)
    who = known_actor(actor)
    used: set[str] = set()
    states: dict[tuple[int, bool], InitialState] = {}
    with transaction.atomic():
        for batch in _chunks(requests, BATCH_SIZE):
            references = _new_references(len(batch), used)
            made: list[tuple[Booking, InitialState]] = []
            for request, reference in zip(batch, references, strict=True):
                key = (request.session.pk, request.confirm)
                if (state := states.get(key)) is None:
                    via = ConfirmedVia.IMPORT if request.confirm else None  # booked, then confirmed as confirm() would
                    state = states[key] = Booking.initial_state(request.session, now=now, confirm_via=via)
                made.append((_new_booking(request, reference, state, now=now, actor=who, source=source), state))
            _insert(made, actor=who, now=now)
        publish_slots(take_seats(wanted, now=now))
    return len(requests)


def _insert(made: Sequence[tuple[Booking, InitialState]], *, actor: User | None, now: datetime) -> None:
    """One batch of ``book_many``: the bookings, the history ``book()`` writes, the start reminders."""
    try:
        Booking.objects.bulk_create([booking for booking, _ in made])
    except IntegrityError as exc:
        if is_active_booking_violation(exc):
            raise AlreadyBooked("A student in the file was booked into one of its sessions meanwhile.") from exc
        raise
    history = [
        row for booking, state in made for row in creation_history(booking, state.confirmed_via, actor=actor, now=now)
    ]
    BookingEvent.objects.bulk_create(history, batch_size=BATCH_SIZE)
    reminders = [
        reminder
        for booking, state in made
        if state.status == BookingStatus.CONFIRMED
        for reminder in start_reminders(Attendance.of(booking), now=now)
    ]
    Reminder.objects.bulk_create(reminders, batch_size=BATCH_SIZE)


def _new_booking(
    request: BookingRequest, reference: str, state: InitialState, *, now: datetime, actor: User | None, source: str
) -> Booking:
    """The unsaved booking ``book()`` would make, starting in ``state``."""
    product = request.session.product
    return Booking(
        reference=reference,
        student=request.student,
        session=request.session,
        status=state.status,
        payment_method=request.payment_method,
        price=product.price,
        currency=product.currency,
        expires_at=state.expires_at,
        confirmed_at=state.confirmed_at,
        source=source,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )


def _new_references(count: int, used: set[str]) -> list[str]:
    """``count`` references no booking has, from one read of the OS's random source.

    ``book()`` relies on 31⁷ references making a clash negligible for one booking; fifty thousand
    at once would clash with a few per cent probability, so each batch is checked in one query
    (and against the batches before it). Bytes of 248 and above are dropped so every letter of the
    31 is equally likely, as with ``new_reference``.
    """
    size = len(REFERENCE_ALPHABET)
    limit = 256 - 256 % size
    references: list[str] = []
    while len(references) < count:
        wanted = count - len(references)
        pool = [b % size for b in secrets.token_bytes(wanted * REFERENCE_LENGTH * 2) if b < limit]
        for start in range(0, len(pool) - REFERENCE_LENGTH + 1, REFERENCE_LENGTH):
            reference = "".join(REFERENCE_ALPHABET[i] for i in pool[start : start + REFERENCE_LENGTH])
            if reference not in used:
                used.add(reference)
                references.append(reference)
            if len(references) == count:
                break
        taken = set(Booking.objects.filter(reference__in=references).values_list("reference", flat=True))
        if taken:
            references = [r for r in references if r not in taken]
    return references


@dataclass(frozen=True, slots=True)
class SessionChange:
    session: Session
    capacity: int | None = None
    room: str | None = None


def create_sessions(
    sessions: Sequence[Session], *, actor: User | None = None, now: datetime | None = None
) -> list[Session]:
    """Insert new sessions (source import), open with no seat taken, record and announce them.

    The rules are ``create_session``'s (``bookings.services.schedule``), judged again here under the
    tutors' locks: the file was checked against what was there then, and a session added since (by
    hand, by generation) refuses the whole batch, which the import then reports row by row.
    """
    now = now or timezone.now()
    who = known_actor(actor)
    for session in sessions:
        session.source = SessionSource.IMPORT
        session.status = SessionStatus.OPEN
        session.seats_taken = 0
        session.created_by = who
    try:
        with transaction.atomic():
            schedule.lock_tutors(s.tutor_id for s in sessions if s.tutor_id)
            refused = next((verdict for verdict in schedule.judge(sessions, now=now) if verdict), None)
            if refused is not None:
                raise BookingNotAllowed(f"A session in the file is no longer possible: {refused.message}")
            created = Session.objects.bulk_create(sessions, batch_size=BATCH_SIZE)
            history.write(history.creation(s, SessionAction.IMPORTED, actor=who, now=now) for s in created)
    except IntegrityError as exc:
        # One live session per tutor and start: something else added one at the same time.
        raise BookingNotAllowed("Another session was added at one of these times just now.") from exc
    publish_slots([slot_data(s.pk, capacity=s.capacity, seats_taken=0, status=s.status) for s in created])
    return created


def edited_session(change: SessionChange) -> tuple[Session, dict[str, Any]]:
    """The session as ``change`` leaves it, and the fields it changes with their new values."""
    changes = {
        name: value
        for name, value in (("capacity", change.capacity), ("room", change.room))
        if value is not None and value != getattr(change.session, name)
    }
    edited = copy.copy(change.session)
    for name, value in changes.items():
        setattr(edited, name, value)
    return edited, changes


def update_sessions(
    changes: Sequence[SessionChange], *, actor: User | None = None, now: datetime | None = None
) -> None:
    """Change capacities and rooms as ``update_session`` would: the session rules for what changes
    (capacity range, the room free then), a capacity never below the seats taken, and a history.

    The seats check is in the UPDATE itself, so a booking that lands meanwhile makes it fail, not
    oversell. ``change.session`` is the session as read before (its product loaded).
    """
    now = now or timezone.now()
    edits = [edited_session(change) for change in changes]
    timetable = schedule.Timetable.around([edited for edited, changed in edits if "room" in changed])
    for edited, changed in edits:
        verdict = schedule.refusal(edited, now=now, changed=changed.keys())
        if verdict is None and "room" in changed:
            verdict = timetable.clash(edited)
            timetable.add(edited)
        if verdict is not None:
            raise BookingNotAllowed(f"{edited}: {verdict.message}")
    for batch in _chunks(changes, SEAT_BATCH):
        capacity = Case(
            *[When(pk=c.session.pk, then=Value(c.capacity)) for c in batch if c.capacity is not None],
            default=F("capacity"),
            output_field=IntegerField(),
        )
        room = Case(
            *[When(pk=c.session.pk, then=Value(c.room)) for c in batch if c.room is not None],
            default=F("room"),
        )
        ids = [c.session.pk for c in batch]
        if Session.objects.filter(pk__in=ids, seats_taken__lte=capacity).update(capacity=capacity, room=room) != len(
            ids
        ):
            raise BookingNotAllowed("Seats were booked meanwhile: a capacity would be lower than the seats taken.")
        rows = Session.objects.filter(pk__in=ids).values_list("pk", "capacity", "seats_taken", "status")
        publish_slots(
            [slot_data(pk, capacity=cap, seats_taken=taken, status=status) for pk, cap, taken, status in rows]
        )
    who = known_actor(actor)
    history.write(
        event
        for change, (_, changed) in zip(changes, edits, strict=True)
        for event in history.edits(change.session, changed, actor=who, now=now, via="import")
    )


# --- Students --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewStudent:
    phone: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""


def create_students(rows: Sequence[NewStudent]) -> int:
    """Insert students as ``User.save()`` would make them: role student, no back-office access,
    username from the phone or e-mail (a random one if that is taken), no usable password."""
    usernames = {row.phone or row.email for row in rows} - {""}
    taken: set[str] = set()
    for batch in _chunks(sorted(usernames), BATCH_SIZE):
        taken.update(User.objects.filter(username__in=batch).values_list("username", flat=True))
    users = []
    for row in rows:
        username = row.phone or row.email
        if not username or username in taken:
            username = f"user-{uuid.uuid4().hex[:12]}"
        taken.add(username)
        users.append(
            User(
                username=username,
                phone=row.phone,
                email=row.email,
                first_name=row.first_name,
                last_name=row.last_name,
                role=Role.STUDENT,
                is_staff=False,
                password=make_password(None),
            )
        )
    try:
        with transaction.atomic():
            User.objects.bulk_create(users, batch_size=BATCH_SIZE)
    except IntegrityError as exc:
        raise BookingNotAllowed("A phone or e-mail in the file was given to someone else just now.") from exc
    return len(users)


def update_students(users: Sequence[User], fields: Sequence[str]) -> int:
    """Save the changed names (and contact details filled in) of existing students."""
    if not users:
        return 0
    try:
        with transaction.atomic():
            User.objects.bulk_update(users, list(fields), batch_size=BATCH_SIZE)
    except IntegrityError as exc:
        raise BookingNotAllowed("A phone or e-mail in the file was given to someone else just now.") from exc
    return len(users)


# --- Results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultScores:
    """A result to record for ``booking``, or (``result`` set) the correction of an existing one."""

    booking: Booking
    scores: dict[str, Decimal | None]
    test_date: date
    result: TestResult | None = None


def record_results(items: Sequence[ResultScores], *, actor: Any = None, now: datetime | None = None) -> None:
    """``record_result`` / ``correct_result`` for many rows: results written, history kept, and
    confirmed bookings completed with their seat count and pending reminders released.

    The caller has validated the scores (``TestResult.clean``) and the booking's state.
    """
    now = now or timezone.now()
    who = known_actor(actor)
    new = [item for item in items if item.result is None]
    corrections = [item for item in items if item.result is not None]
    with transaction.atomic():
        results = []
        for item in new:
            result = TestResult(booking=item.booking, test_date=item.test_date, created_by=who, created_at=now)
            for name in SUB_SCORES:
                setattr(result, name, item.scores.get(name))
            result.overall = result.compute_overall()  # bulk_create skips save(), which sets it
            results.append(result)
        TestResult.objects.bulk_create(results, batch_size=BATCH_SIZE)
        events = [
            BookingEvent(
                booking=result.booking,
                action=BookingAction.RESULT_RECORDED,
                actor=who,
                created_at=now,
                data={"result": result.pk, "overall": str(result.overall), "source": "import"},
            )
            for result in results
        ]
        booking_ids = [result.booking.pk for result in results]
        for batch in _chunks(booking_ids, BATCH_SIZE):
            Booking.objects.filter(pk__in=batch).update(has_result=True, updated_at=now)
        # The result's history row first, then the completion's (as record_result writes them).
        BookingEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)
        _complete_confirmed([result.booking for result in results], actor=who, now=now)
        events = []
        changed = []
        for item in corrections:
            result = item.result
            old = _values(result)
            for name in SUB_SCORES:
                setattr(result, name, item.scores.get(name))
            result.test_date = item.test_date
            result.overall = result.compute_overall()
            events.append(
                BookingEvent(
                    booking=result.booking,
                    action=BookingAction.RESULT_CORRECTED,
                    actor=who,
                    created_at=now,
                    data={"result": result.pk, "old": old, "new": _values(result), "source": "import"},
                )
            )
            changed.append(result)
        TestResult.objects.bulk_update(changed, [*SUB_SCORES, "overall", "test_date"], batch_size=BATCH_SIZE)
        BookingEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)


def _complete_confirmed(bookings: Sequence[Booking], *, actor: User | None, now: datetime) -> None:
    """A confirmed booking that gets a result is completed, as ``record_result`` does: the state
    machine's completion (seat freed, reminders cancelled, history), announced by seats only."""
    confirmed = [b for b in bookings if b.status == BookingStatus.CONFIRMED]
    for batch in _chunks(confirmed, BATCH_SIZE):
        targets = Booking.objects.filter(pk__in=[b.pk for b in batch])
        finish_bookings(targets, COMPLETE, actor=actor, now=now, expect=len(batch), publish=False, via="result")
    for booking in confirmed:
        booking.status = BookingStatus.COMPLETED
    publish_slots(slots({b.session_id for b in confirmed}))
