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

import secrets
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, IntegerField, Model, Value, When
from django.utils import timezone

from backoffice.models import Role, User
from bookings.errors import AlreadyBooked, BookingNotAllowed, SessionFull
from bookings.models import (
    Booking,
    BookingEvent,
    BookingSource,
    BookingStatus,
    PaymentMethod,
    Reminder,
    Session,
    SessionSource,
    SessionStatus,
    TestResult,
)
from bookings.models.bookings import REFERENCE_ALPHABET, REFERENCE_LENGTH
from bookings.models.results import SUB_SCORES
from bookings.reports import bump_dashboard_version
from bookings.services._common import _actor, slot_data
from bookings.services.booking import _is_active_booking_violation, check_bookable
from bookings.services.reminders import cancel_pending_reminders, start_reminders
from bookings.services.results import _values
from realtime.events import publish_many, session_group, staff_group

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
    actor: Any = None,
    now: datetime | None = None,
    source: str = BookingSource.IMPORT,
) -> int:
    """``book()`` (and ``confirm()`` where asked) for many bookings in one transaction; all or nothing.

    The same rules: the session must be bookable (open, not started, the tutor's notice), a student
    holds one active booking per session (the partial unique index decides, as for ``book``), the
    price is snapshotted, pending bookings expire after the payment window, free products and
    auto-confirm tutors confirm at once, confirmed bookings get their start reminders, and every
    booking gets its history. Seats are taken last, per session, with one conditional UPDATE per
    batch of sessions (``seats_taken + n <= capacity``): a booking made through the admin at the
    same moment either lands first -- and this raises SessionFull, rolling the import back -- or
    waits for the import to commit and then finds the seats gone. Returns how many were made.
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
    who = _actor(actor)
    used: set[str] = set()
    with transaction.atomic():
        for batch in _chunks(requests, BATCH_SIZE):
            references = _new_references(len(batch), used)
            made = [
                _new_booking(request, reference, now=now, actor=who, source=source)
                for request, reference in zip(batch, references, strict=True)
            ]
            bookings = [booking for booking, _ in made]
            try:
                Booking.objects.bulk_create(bookings)
            except IntegrityError as exc:
                if _is_active_booking_violation(exc):
                    raise AlreadyBooked("A student in the file was booked into one of its sessions meanwhile.") from exc
                raise
            events: list[BookingEvent] = []
            reminders: list[Reminder] = []
            actor_id = who.pk if who else None
            for (booking, via), request in zip(made, batch, strict=True):
                data = {
                    "session": booking.session_id,
                    "source": source,
                    "price": str(booking.price),
                    "payment_method": booking.payment_method,
                }
                events.append(_event(booking.pk, "booking.created", actor_id, data, now))
                if via:
                    events.append(_event(booking.pk, "booking.confirmed", actor_id, {"via": via}, now))
                    Booking.session.field.set_cached_value(booking, request.session)
                    Booking.student.field.set_cached_value(booking, request.student)
                    reminders.extend(start_reminders(booking, now=now))
            BookingEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)
            Reminder.objects.bulk_create(reminders, batch_size=BATCH_SIZE)
        slots = take_seats(wanted, now=now)
        publish_slots(slots)
    return len(requests)


@cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


def _instance[M: Model](model: type[M], values: dict[str, Any]) -> M:
    """``model`` with every field given positionally, as Django builds the rows it reads.

    Keyword construction (relation descriptors, callable defaults such as a new reference) cost
    more than everything else an imported row needs; a missing field is a KeyError, not a default.
    """
    return model(*[values[name] for name in _attnames(model)])


def _event(booking_id: int, action: str, actor_id: int | None, data: dict[str, Any], now: datetime) -> BookingEvent:
    return _instance(
        BookingEvent,
        {"id": None, "booking_id": booking_id, "action": action, "actor_id": actor_id, "data": data, "created_at": now},
    )


def _new_booking(
    request: BookingRequest, reference: str, *, now: datetime, actor: Any, source: str
) -> tuple[Booking, str | None]:
    """The unsaved booking ``book()`` would make, and why it is confirmed (None if pending)."""
    session = request.session
    product = session.product
    if product.is_free:
        via: str | None = "free"
    elif session.tutor_id and session.tutor.auto_confirm:
        via = "auto_confirm"
    elif request.confirm:
        via = "import"  # booked, then confirmed as confirm() would, in the same step
    else:
        via = None
    values = {
        "id": None,
        "reference": reference,
        "student_id": request.student.pk,
        "session_id": session.pk,
        "status": BookingStatus.CONFIRMED if via else BookingStatus.PENDING,
        "cancel_reason": "",
        "payment_method": request.payment_method,
        "price": product.price,
        "currency": product.currency,
        # An unpaid seat is released after the payment window, and never later than the start.
        "expires_at": None if via else min(now + timedelta(hours=product.payment_window_hours), session.starts_at),
        "has_result": False,
        "needs_refund": False,
        "rescheduled_from_id": None,
        "source": source,
        "created_by_id": actor.pk if actor else None,
        "created_at": now,
        "updated_at": now,
        "confirmed_at": now if via else None,
        "cancelled_at": None,
    }
    return _instance(Booking, values), via


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


def take_seats(wanted: dict[int, int], *, now: datetime) -> list[dict[str, Any]]:
    """Take ``n`` seats in each session ``{session id: n}``, or raise SessionFull taking none.

    One conditional UPDATE per batch of sessions: each row is re-checked under its row lock
    (open, not started, ``seats_taken + n <= capacity``), so a concurrent booker cannot push a
    session over capacity whichever commits first. Returns the ``slot.updated`` payloads.
    """
    table = connection.ops.quote_name(Session._meta.db_table)
    slots: list[dict[str, Any]] = []
    for batch in _chunks(sorted(wanted.items()), SEAT_BATCH):
        # Sorted ids: two imports locking overlapping sessions take the locks in the same order.
        case = "CASE id " + " ".join("WHEN %s THEN %s" for _ in batch) + " END"
        pairs = [value for item in batch for value in item]
        ids = [session_id for session_id, _ in batch]
        marks = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET seats_taken = seats_taken + {case} "
                f"WHERE id IN ({marks}) AND status = %s AND starts_at > %s AND seats_taken + {case} <= capacity "
                "RETURNING id, capacity, seats_taken, status",
                [*pairs, *ids, SessionStatus.OPEN, now, *pairs],
            )
            rows = cursor.fetchall()
        if len(rows) != len(batch):
            missing = set(ids) - {row[0] for row in rows}
            session = Session.objects.select_related("product", "tutor__user").get(pk=min(missing))
            raise SessionFull(
                f"{session} has {session.seats_left} seat(s) left: it cannot take {wanted[session.pk]} more."
            )
        slots += [slot_data(pk, capacity=cap, seats_taken=taken, status=status) for pk, cap, taken, status in rows]
    return slots


def publish_slots(slots: Sequence[dict[str, Any]]) -> None:
    if not slots:
        return
    bump_dashboard_version()
    publish_many([("slot.updated", slot, [staff_group(), session_group(slot["session"])], ()) for slot in slots])


# --- Sessions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionChange:
    session: Session
    capacity: int | None = None
    room: str | None = None


def create_sessions(sessions: Sequence[Session], *, actor: Any = None) -> list[Session]:
    """Insert new sessions (source import), open with no seat taken, and announce them."""
    who = _actor(actor)
    for session in sessions:
        session.source = SessionSource.IMPORT
        session.status = SessionStatus.OPEN
        session.seats_taken = 0
        session.created_by = who
    try:
        with transaction.atomic():
            created = Session.objects.bulk_create(sessions, batch_size=BATCH_SIZE)
    except IntegrityError as exc:
        # One live session per tutor and start: something else added one at the same time.
        raise BookingNotAllowed("Another session was added at one of these times just now.") from exc
    publish_slots([slot_data(s.pk, capacity=s.capacity, seats_taken=0, status=s.status) for s in created])
    return created


def update_sessions(changes: Sequence[SessionChange], *, actor: Any = None) -> None:
    """Change capacities and rooms; a capacity never goes below the seats taken (as ``change_capacity``).

    The check is in the UPDATE itself, so a booking that lands meanwhile makes it fail, not oversell.
    """
    for change in changes:
        if change.capacity is not None and change.capacity < 1:
            raise BookingNotAllowed("A session needs at least one seat.")
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
    who = _actor(actor)
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
                action="result.recorded",
                actor=who,
                created_at=now,
                data={"result": result.pk, "overall": str(result.overall), "source": "import"},
            )
            for result in results
        ]
        booking_ids = [result.booking.pk for result in results]
        for batch in _chunks(booking_ids, BATCH_SIZE):
            Booking.objects.filter(pk__in=batch).update(has_result=True, updated_at=now)
        events += _complete_confirmed([result.booking for result in results], actor=who, now=now)
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
                    action="result.corrected",
                    actor=who,
                    created_at=now,
                    data={"result": result.pk, "old": old, "new": _values(result), "source": "import"},
                )
            )
            changed.append(result)
        TestResult.objects.bulk_update(changed, [*SUB_SCORES, "overall", "test_date"], batch_size=BATCH_SIZE)
        BookingEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)


def _complete_confirmed(bookings: Sequence[Booking], *, actor: Any, now: datetime) -> list[BookingEvent]:
    """A confirmed booking that gets a result is completed: the seat count is freed (as ``_finish``)."""
    confirmed = [b for b in bookings if b.status == BookingStatus.CONFIRMED]
    if not confirmed:
        return []
    ids = [b.pk for b in confirmed]
    done = 0
    for batch in _chunks(ids, BATCH_SIZE):
        # Compare-and-set on the status, as change_status: a booking cancelled meanwhile is not completed.
        done += Booking.objects.filter(pk__in=batch, status=BookingStatus.CONFIRMED).update(
            status=BookingStatus.COMPLETED, updated_at=now
        )
    if done != len(ids):
        raise BookingNotAllowed("A booking in the file changed status meanwhile.")
    freed = Counter(b.session_id for b in confirmed)
    for batch in _chunks(sorted(freed.items()), SEAT_BATCH):
        change = Case(*[When(pk=pk, then=Value(n)) for pk, n in batch], output_field=IntegerField())
        Session.objects.filter(pk__in=[pk for pk, _ in batch]).update(seats_taken=F("seats_taken") - change)
    cancel_pending_reminders(ids)
    for booking in confirmed:
        booking.status = BookingStatus.COMPLETED
    rows = Session.objects.filter(pk__in=list(freed)).values_list("pk", "capacity", "seats_taken", "status")
    publish_slots([slot_data(pk, capacity=cap, seats_taken=taken, status=status) for pk, cap, taken, status in rows])
    return [
        BookingEvent(booking=b, action="booking.completed", actor=actor, created_at=now, data={"via": "result"})
        for b in confirmed
    ]
