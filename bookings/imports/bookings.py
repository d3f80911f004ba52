"""Bookings import: a student (by phone or e-mail) into a session (by product, local start, tutor)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models.functions import Lower
from django.utils import timezone

from backoffice.models import Role, User
from bookings.errors import BookingError
from bookings.imports.base import E164, Column, Importer, Plan, Products, RowInvalid, Tutors, a_phone, chunks
from bookings.imports.parsing import Row
from bookings.imports.report import clip, quoted
from bookings.models import SEAT_HOLDING, Booking, BookingStatus, PaymentMethod, Session, SessionStatus
from bookings.services.booking import check_bookable
from bookings.services.imports import BookingRequest, book_many

STUDENT_FIELDS = ("id", "username", "first_name", "last_name", "email", "phone", "role")


@dataclass(slots=True)
class BookingRow:
    student: tuple[str, str]  # ("phone", E.164) or ("email", lower-cased)
    student_text: str
    product_code: str
    starts_at: datetime
    tutor: tuple[str, str] | None
    tutor_text: str
    payment_method: str
    confirm: bool


class BookingsImporter(Importer[BookingRow]):
    kind = "bookings"
    label = "Bookings"
    permission = "bookings.import_booking"
    model = Booking
    columns = [
        Column(
            "student",
            True,
            "The student's phone or e-mail; the student must exist (import students first).",
            "+998 90 123 45 67",
        ),
        Column("product_code", True, "The product's code, as in Catalogue → Products.", "IELTS-MOCK"),
        Column("starts_at", True, "The session's local start time, YYYY-MM-DD HH:MM.", "2026-12-05 09:00"),
        Column("tutor", False, "The tutor's e-mail or phone, when several sessions of the product start then.", ""),
        Column("payment_method", False, "cash, click or payme (default cash).", "cash"),
        Column("status", False, "pending or confirmed (default pending: it expires if unpaid).", "pending"),
    ]

    # -- 1. parse --------------------------------------------------------------------------------

    def parse(self, line: int, row: Row) -> BookingRow:
        student_text = row.get("student", "")
        if not student_text:
            raise RowInvalid("student is empty: give the student's phone or e-mail.", "student")
        # Already E.164, as exports write it: looked up as is, and only parsed if not found.
        student = ("phone", student_text) if E164.fullmatch(student_text) else self.contact(student_text, "student")
        tutor_text = row.get("tutor", "")
        status = self.a_choice(row.get("status", ""), "status", BookingStatus, BookingStatus.PENDING)
        if status not in (BookingStatus.PENDING, BookingStatus.CONFIRMED):
            raise RowInvalid(f"status {quoted(status)} cannot be imported: use pending or confirmed.", "status")
        product_code = row.get("product_code", "")
        if not product_code:
            raise RowInvalid("product_code is empty.", "product_code")
        return BookingRow(
            student=student,
            student_text=student_text,
            product_code=sys.intern(product_code),  # one string per product, not per row
            starts_at=self.local_time(row.get("starts_at", "")),
            tutor=self.contact(tutor_text, "tutor") if tutor_text else None,
            tutor_text=tutor_text,
            payment_method=self.a_choice(row.get("payment_method", ""), "payment_method", PaymentMethod, "cash"),
            confirm=status == BookingStatus.CONFIRMED,
        )

    # -- 2. preload ----------------------------------------------------------------------------

    def preload(self, items: Sequence[BookingRow]) -> None:
        self.products = Products()
        self.tutors = Tutors(item.tutor for item in items if item.tutor)
        self.students: dict[tuple[str, str], User] = {}
        phones = sorted({item.student[1] for item in items if item.student[0] == "phone"})
        emails = sorted({item.student[1] for item in items if item.student[0] == "email"})
        users = User.objects.only(*STUDENT_FIELDS)
        for batch in chunks(phones):
            for user in users.filter(phone__in=batch):
                self.students["phone", user.phone] = user
        for batch in chunks(emails):
            for user in users.annotate(email_key=Lower("email")).filter(email_key__in=batch):
                self.students["email", user.email_key] = user

        # Sessions by (product, start): every start in the file, for the products named in it.
        product_ids = {
            product.pk
            for code in {item.product_code.lower() for item in items}
            if (product := self.products.by_code.get(code))
        }
        self.sessions: dict[tuple[int, datetime], list[Session]] = {}
        base = Session.objects.select_related("product", "tutor__user").filter(product_id__in=product_ids)
        for batch in chunks(sorted({item.starts_at for item in items})):
            for session in base.filter(starts_at__in=batch):
                self.sessions.setdefault((session.product_id, session.starts_at), []).append(session)

        # Who already holds a seat in those sessions: those rows are skipped, so a re-import is a no-op.
        ids = sorted({s.pk for group in self.sessions.values() for s in group if s.status != SessionStatus.CANCELLED})
        self.booked: set[tuple[int, int]] = set()
        for batch in chunks(ids):
            self.booked.update(
                Booking.objects.filter(session_id__in=batch, status__in=SEAT_HOLDING).values_list(
                    "session_id", "student_id"
                )
            )
        self.first_line: dict[tuple[int, int], int] = {}
        self.seats_left: dict[int, int] = {}
        self.taken_here: dict[int, int] = {}
        self.refused: dict[int, str | None] = {}
        self.labels: dict[int, str] = {}

    # -- 3. plan -------------------------------------------------------------------------------

    def plan(self, line: int, item: BookingRow) -> Plan[BookingRequest]:
        product = self.products.get(item.product_code)
        tutor = self.tutors.get(item.tutor, item.tutor_text)
        student = self._student(item)
        session = self._session(item, product.code, product.pk, tutor)
        key = (session.pk, student.pk)
        first = self.first_line.get(key)
        if first is not None:
            raise RowInvalid(f"the same student and session as line {first}: remove one of them.", "student")
        self.first_line[key] = line
        summary = f"{student} → {self._label(session)}"
        if key in self.booked:
            return Plan(line, "skipped", summary, message="already booked")
        refusal = self._refusal(session)
        if refusal:
            raise RowInvalid(refusal, "starts_at")
        left = self.seats_left.setdefault(session.pk, max(session.capacity - session.seats_taken, 0))
        if left <= 0:
            earlier = self.taken_here.get(session.pk, 0)
            more = f" ({earlier} of them by earlier lines of this file)" if earlier else ""
            raise RowInvalid(f"session full: all {session.capacity} seats of {self._label(session)} are taken{more}.")
        self.seats_left[session.pk] = left - 1
        self.taken_here[session.pk] = self.taken_here.get(session.pk, 0) + 1
        confirmed = item.confirm or Booking.confirms_at_once(session) is not None
        summary += f" ({'confirmed' if confirmed else 'pending'}, {item.payment_method})"
        request = BookingRequest(
            session=session, student=student, payment_method=item.payment_method, confirm=item.confirm
        )
        return Plan(line, "new", summary, request)

    def _student(self, item: BookingRow) -> User:
        user = self.students.get(item.student)
        if user is None:
            kind, value = item.student
            if kind == "phone":
                value = a_phone(item.student_text, "student")  # a "+…" that is no phone number says so
                user = self.students.get((kind, value))
            if user is None:
                what = "phone" if kind == "phone" else "e-mail"
                raise RowInvalid(
                    f"No student with {what} {clip(value)} — import students first or add them.", "student"
                )
        if user.role != Role.STUDENT:
            raise RowInvalid(
                f"{item.student_text} belongs to {user} ({user.get_role_display().lower()}), not a student.", "student"
            )
        return user

    def _session(self, item: BookingRow, code: str, product_id: int, tutor: object) -> Session:
        candidates = self.sessions.get((product_id, item.starts_at), [])
        if tutor is not None:
            candidates = [s for s in candidates if s.tutor_id == tutor.pk]  # type: ignore[attr-defined]
        live = [s for s in candidates if s.status != SessionStatus.CANCELLED]
        local = f"{timezone.localtime(item.starts_at):%Y-%m-%d %H:%M}"
        with_tutor = f" with {tutor}" if tutor is not None else ""
        if not live:
            if candidates:
                raise RowInvalid(f"the {code} session at {local}{with_tutor} is cancelled.", "starts_at")
            raise RowInvalid(
                f"no {code} session starts at {local}{with_tutor} — import or add the session first.", "starts_at"
            )
        if len(live) > 1:
            tutors = ", ".join(str(s.tutor) for s in live if s.tutor_id) or "none"
            raise RowInvalid(
                f"{len(live)} {code} sessions start at {local} (tutors: {tutors}): add a tutor column to say which.",
                "tutor",
            )
        return live[0]

    def _refusal(self, session: Session) -> str | None:
        """Why ``book()`` would refuse this session (closed, started, the tutor's notice), once per session."""
        if session.pk not in self.refused:
            try:
                check_bookable(session, now=self.now)
                self.refused[session.pk] = None
            except BookingError as exc:
                self.refused[session.pk] = exc.message
        return self.refused[session.pk]

    def _label(self, session: Session) -> str:
        label = self.labels.get(session.pk)
        if label is None:
            local = timezone.localtime(session.starts_at)
            who = f" · {session.tutor}" if session.tutor_id else ""
            label = self.labels[session.pk] = f"{session.product.name} · {local:%a %d %b %Y %H:%M}{who}"
        return label

    # -- 4. write ------------------------------------------------------------------------------

    def write(self, plans: Sequence[Plan[BookingRequest]]) -> None:
        book_many([plan.item for plan in plans], actor=self.actor, now=self.now)

    def describe(self, item: BookingRow | None, row: Row | None) -> str:
        if row is not None:
            return " · ".join(v for v in (row.get("student"), row.get("product_code"), row.get("starts_at")) if v)
        if item is None:
            return ""
        return f"{item.student_text} · {item.product_code} · {timezone.localtime(item.starts_at):%Y-%m-%d %H:%M}"
