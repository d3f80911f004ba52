"""Sessions import: a term's timetable, keyed by product code + tutor (or none) + local start."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from bookings.imports.base import Column, Importer, Plan, Products, RowInvalid, Tutors, chunks
from bookings.imports.parsing import Row
from bookings.models import Product, ProductKind, Session, SessionSource, SessionStatus, Tutor
from bookings.services import schedule
from bookings.services.imports import SessionChange, create_sessions, edited_session, update_sessions

ROOM_LENGTH = Session._meta.get_field("room").max_length
# The column a refused session rule is reported on, by the field it names.
RULE_COLUMNS = {"ends_at": "starts_at", "status": "starts_at"}


@dataclass(slots=True)
class SessionRow:
    product_code: str
    tutor: tuple[str, str] | None
    tutor_text: str
    starts_at: datetime
    capacity: int | None
    room: str | None  # None: not given, keep what is there


class SessionsImporter(Importer[SessionRow]):
    kind = "sessions"
    label = "Sessions"
    permission = "bookings.import_session"
    model = Session
    columns = [
        Column("product_code", True, "The product's code, as in Catalogue → Products.", "IELTS-MOCK"),
        Column("tutor", False, "The tutor's e-mail or phone; required for lessons, optional for exams.", ""),
        Column("starts_at", True, "Local start time, YYYY-MM-DD HH:MM (the centre's clock).", "2026-12-05 09:00"),
        Column(
            "capacity",
            False,
            f"Number of seats, 1 to {schedule.MAX_CAPACITY} (default: the product's default capacity).",
            "30",
        ),
        Column("room", False, "Where it takes place.", "Room 1"),
    ]

    def parse(self, line: int, row: Row) -> SessionRow:
        code = row.get("product_code", "")
        if not code:
            raise RowInvalid("product_code is empty.", "product_code")
        tutor_text = row.get("tutor", "")
        room = row.get("room", "")
        if len(room) > ROOM_LENGTH:
            raise RowInvalid(f"room is longer than {ROOM_LENGTH} characters.", "room")
        return SessionRow(
            product_code=code,
            tutor=self.contact(tutor_text, "tutor") if tutor_text else None,
            tutor_text=tutor_text,
            starts_at=self.local_time(row.get("starts_at", "")),
            capacity=self.a_positive_int(row.get("capacity", ""), "capacity"),
            room=room or None,
        )

    def preload(self, items: Sequence[SessionRow]) -> None:
        self.products = Products()
        self.tutors = Tutors(item.tutor for item in items if item.tutor)
        self.by_key: dict[tuple[int, int | None, datetime], Session] = {}
        self.first_line: dict[tuple[int, int | None, datetime], int] = {}
        self.timetable = schedule.Timetable()
        if not items:
            return
        live = Session.objects.exclude(status=SessionStatus.CANCELLED).select_related("product", "tutor__user")
        # The tutors' live sessions at the file's starts, to update rather than add.
        tutor_ids = sorted({t.pk for t in self.tutors.by_key.values()})
        starts = sorted({item.starts_at for item in items})
        for batch in chunks(tutor_ids):
            for session in live.filter(tutor_id__in=batch, starts_at__gte=starts[0], starts_at__lte=starts[-1]):
                self.by_key[session.product_id, session.tutor_id, session.starts_at] = session
        for batch in chunks(sorted({item.starts_at for item in items if item.tutor is None})):
            for session in live.filter(Q(tutor__isnull=True), starts_at__in=batch):
                self.by_key[session.product_id, None, session.starts_at] = session
        # Every live session the file's could clash with (their tutors', their rooms'), in one read.
        self.timetable = schedule.Timetable.around(self._outline(items))

    def _outline(self, items: Sequence[SessionRow]) -> list[Session]:
        """The file's rows as sessions, as far as they resolve: what the clash read needs to cover."""
        outline = []
        for item in items:
            product = self.products.by_code.get(item.product_code.strip().lower())
            tutor = self.tutors.by_key.get(item.tutor) if item.tutor else None
            if product is not None:
                ends_at = item.starts_at + self._length(product, tutor)
                outline.append(
                    Session(
                        product=product, tutor=tutor, room=item.room or "", starts_at=item.starts_at, ends_at=ends_at
                    )
                )
        return outline

    def plan(self, line: int, item: SessionRow) -> Plan[object]:
        product = self.products.get(item.product_code)
        tutor = self.tutors.get(item.tutor, item.tutor_text)
        local = timezone.localtime(item.starts_at)
        summary = f"{product.name} · {local:%a %d %b %Y %H:%M}" + (f" · {tutor}" if tutor else "")
        key = (product.pk, tutor.pk if tutor else None, item.starts_at)
        first = self.first_line.get(key)
        if first is not None:
            raise RowInvalid(f"the same session as line {first}: remove one of them.", "starts_at")
        self.first_line[key] = line

        existing = self.by_key.get(key)
        if existing is not None:
            return self._update(line, item, existing, summary)
        capacity = item.capacity or product.default_capacity
        session = Session(
            product=product,
            tutor=tutor,
            room=item.room or "",
            starts_at=item.starts_at,
            ends_at=item.starts_at + self._length(product, tutor),
            capacity=capacity,
            status=SessionStatus.OPEN,
            source=SessionSource.IMPORT,
        )
        # The rules of every new session (bookings.services.schedule), against the sessions there
        # and the rows above this one.
        self._judge(session, schedule.refusal(session, now=self.now) or self.timetable.clash(session))
        self.timetable.add(session, note=f"line {line}")
        return Plan(line, "new", f"{summary} ({capacity} seats)", session)

    def _update(self, line: int, item: SessionRow, session: Session, summary: str) -> Plan[object]:
        change = SessionChange(
            session,
            capacity=item.capacity if item.capacity is not None and item.capacity != session.capacity else None,
            room=item.room if item.room is not None and item.room != session.room else None,
        )
        edited, changed = edited_session(change)
        if not changed:
            return Plan(line, "skipped", summary, message="already there, unchanged")
        if "capacity" in changed and edited.capacity < session.seats_taken:
            raise RowInvalid(
                f"{session.seats_taken} seats are booked: the capacity cannot be lower than that.", "capacity"
            )
        verdict = schedule.refusal(edited, now=self.now, changed=changed.keys())
        self._judge(edited, verdict or (self.timetable.clash(edited) if "room" in changed else None))
        self.timetable.add(edited, note=f"line {line}")
        words = [f"capacity {session.capacity} → {edited.capacity}"] if "capacity" in changed else []
        words += [f"room {session.room or '—'} → {edited.room}"] if "room" in changed else []
        return Plan(line, "updated", summary, change, "; ".join(words))

    @staticmethod
    def _judge(session: Session, verdict: schedule.Refusal | None) -> None:
        if verdict is not None:
            raise RowInvalid(verdict.message, RULE_COLUMNS.get(verdict.field, verdict.field))

    @staticmethod
    def _length(product: Product, tutor: Tutor | None) -> timedelta:
        # As generation does: a lesson lasts its tutor's lesson length, anything else the product's duration.
        if product.kind == ProductKind.LESSON and tutor is not None:
            return timedelta(minutes=tutor.lesson_minutes)
        return timedelta(minutes=product.duration_minutes)

    def write(self, plans: Sequence[Plan[object]]) -> None:
        new = [plan.item for plan in plans if isinstance(plan.item, Session)]
        changes = [plan.item for plan in plans if isinstance(plan.item, SessionChange)]
        if changes:
            update_sessions(changes, actor=self.actor)
        if new:
            create_sessions(new, actor=self.actor)

    def describe(self, item: SessionRow | None, row: Row | None) -> str:
        if row is not None:
            return " · ".join(v for v in (row.get("product_code"), row.get("starts_at"), row.get("tutor")) if v)
        return f"{item.product_code} · {timezone.localtime(item.starts_at):%Y-%m-%d %H:%M}" if item else ""
