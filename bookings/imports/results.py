"""Results import: band scores by booking reference, or by student + product + local start."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models.functions import Lower
from django.utils import timezone

from backoffice.models import User
from bookings.errors import BookingError
from bookings.imports.base import (
    E164,
    Column,
    Importer,
    Plan,
    Products,
    RowInvalid,
    Tutors,
    a_phone,
    chunks,
    found_headers,
)
from bookings.imports.parsing import ImportFileError, Row
from bookings.imports.report import clip
from bookings.models import Booking, BookingStatus, SessionStatus, TestResult
from bookings.models.results import SUB_SCORES
from bookings.services.imports import ResultScores, record_results
from bookings.services.results import _check_tutor, _values

SCORED = (BookingStatus.CONFIRMED, BookingStatus.COMPLETED)
RELATED = ("session__product", "session__tutor__user", "student")


@dataclass(slots=True)
class ResultRow:
    reference: str
    student: tuple[str, str] | None
    product_code: str
    starts_at: datetime | None
    tutor: tuple[str, str] | None
    scores: dict[str, Decimal | None]
    test_date: date | None


class ResultsImporter(Importer[ResultRow]):
    kind = "results"
    label = "Results"
    permission = "bookings.import_testresult"
    model = TestResult
    columns = [
        Column(
            "booking",
            False,
            "The booking reference (or leave it empty and give student, product_code, starts_at).",
            "K7PQ2XM",
        ),
        Column("listening", False, "Band 0–9 in steps of 0.5 for IELTS products.", "6.5"),
        Column("reading", False, "Band 0–9 in steps of 0.5.", "7"),
        Column("writing", False, "Band 0–9 in steps of 0.5.", "6"),
        Column("speaking", False, "Band 0–9 in steps of 0.5.", "6.5"),
        Column("test_date", False, "YYYY-MM-DD (default: the session's date).", "2026-12-05"),
        Column("student", False, "Without a booking reference: the student's phone or e-mail.", ""),
        Column("product_code", False, "Without a booking reference: the product's code.", ""),
        Column("starts_at", False, "Without a booking reference: the session's local start, YYYY-MM-DD HH:MM.", ""),
        Column("tutor", False, "Without a booking reference, when several sessions start then: the tutor.", ""),
    ]

    @classmethod
    def check_headers(cls, headers: Sequence[str], filename: str) -> None:
        present = set(headers)
        if "booking" not in present and not {"student", "product_code", "starts_at"} <= present:
            raise ImportFileError(
                "The file has no column “booking”: the results import needs booking (the reference), or "
                f"student, product_code and starts_at (found: {found_headers(headers)})."
            )
        if not present & set(SUB_SCORES):
            raise ImportFileError("The file has no score columns: add listening, reading, writing and speaking.")

    @classmethod
    def required_text(cls) -> str:
        return "booking (or student, product_code, starts_at) and the scores"

    def parse(self, line: int, row: Row) -> ResultRow:
        reference = row.get("booking", "").strip().upper()
        student = tutor = starts_at = None
        code = row.get("product_code", "")
        if not reference:
            text = row.get("student", "")
            if not text or not code or not row.get("starts_at"):
                raise RowInvalid("give the booking reference, or the student, product_code and starts_at.", "booking")
            student = ("phone", text) if E164.fullmatch(text) else self.contact(text, "student")
            starts_at = self.local_time(row.get("starts_at", ""))
            tutor = self.contact(row["tutor"], "tutor") if row.get("tutor") else None
        problems: list[tuple[str | None, str]] = []
        scores: dict[str, Decimal | None] = {}
        for name in SUB_SCORES:
            try:
                scores[name] = self.a_decimal(row.get(name, ""), name)
            except RowInvalid as exc:
                problems.append((name, exc.message))
        test_date = None
        if row.get("test_date"):
            try:
                test_date = self.a_date(row["test_date"], "test_date")
            except RowInvalid as exc:
                problems.append(("test_date", exc.message))
        if problems:
            (column, message), *more = problems
            raise RowInvalid(message, column, more=more)
        return ResultRow(reference, student, code, starts_at, tutor, scores, test_date)

    def preload(self, items: Sequence[ResultRow]) -> None:
        bookings = Booking.objects.select_related(*RELATED)
        self.by_reference: dict[str, Booking] = {}
        for batch in chunks(sorted({item.reference for item in items if item.reference})):
            self.by_reference.update((b.reference, b) for b in bookings.filter(reference__in=batch))
        self.by_student_start: dict[tuple[int, int, datetime], list[Booking]] = {}
        self.students: dict[tuple[str, str], User] = {}
        keyed = [item for item in items if not item.reference]
        self.products = Products()
        self.tutors = Tutors(item.tutor for item in keyed if item.tutor)
        if keyed:
            users = User.objects.only("id", "email", "phone", "first_name", "last_name", "username")
            for batch in chunks(sorted({i.student[1] for i in keyed if i.student and i.student[0] == "phone"})):
                self.students.update((("phone", u.phone), u) for u in users.filter(phone__in=batch))
            for batch in chunks(sorted({i.student[1] for i in keyed if i.student and i.student[0] == "email"})):
                for user in users.annotate(email_key=Lower("email")).filter(email_key__in=batch):
                    self.students["email", user.email_key] = user
            student_ids = sorted({u.pk for u in self.students.values()})
            for batch in chunks(student_ids):
                query = bookings.filter(
                    student_id__in=batch,
                    status__in=SCORED,
                    session__starts_at__in=[i.starts_at for i in keyed if i.starts_at],
                ).exclude(session__status=SessionStatus.CANCELLED)
                for booking in query:
                    key = (booking.student_id, booking.session.product_id, booking.session.starts_at)
                    self.by_student_start.setdefault(key, []).append(booking)
        ids = sorted(
            {b.pk for b in self.by_reference.values()}
            | {b.pk for group in self.by_student_start.values() for b in group}
        )
        self.results: dict[int, TestResult] = {}
        for batch in chunks(ids):
            # The latest result of each booking is the one a new row is compared with (and corrects).
            for result in TestResult.objects.filter(booking_id__in=batch).order_by(
                "booking_id", "test_date", "created_at", "id"
            ):
                self.results[result.booking_id] = result
        self.first_line: dict[int, int] = {}

    def plan(self, line: int, item: ResultRow) -> Plan[ResultScores]:
        booking = self._booking(item)
        summary = f"{booking.reference} · {booking.student} · {booking.session.product.name}"
        first = self.first_line.get(booking.pk)
        if first is not None:
            raise RowInvalid(f"booking {booking.reference} is already on line {first}.", "booking")
        self.first_line[booking.pk] = line
        # The rules of record_result: whose result it is, the booking's state, a started session.
        try:
            _check_tutor(self.actor, booking)
        except BookingError as exc:
            raise RowInvalid(exc.message, "booking") from None
        if booking.status not in SCORED:
            raise RowInvalid(
                f"booking {booking.reference} is {booking.get_status_display().lower()}: only a confirmed or "
                "completed booking can get a result.",
                "booking",
            )
        if booking.session.starts_at > self.now:
            raise RowInvalid(f"{booking.session} has not started yet: there is no result to record.", "booking")

        existing = self.results.get(booking.pk)
        test_date = item.test_date or (
            existing.test_date if existing else timezone.localdate(booking.session.starts_at)
        )
        candidate = TestResult(booking=booking, test_date=test_date, **item.scores)
        self._validate(candidate)
        candidate.overall = candidate.compute_overall()
        summary += f" · overall {candidate.overall if candidate.overall is not None else '—'}"
        if existing is None:
            return Plan(line, "new", summary, ResultScores(booking, item.scores, test_date))
        if _values(existing) == _values(candidate):
            return Plan(line, "skipped", summary, message="same scores already recorded")
        old = existing.overall if existing.overall is not None else "—"
        return Plan(
            line,
            "updated",
            summary,
            ResultScores(booking, item.scores, test_date, result=existing),
            f"corrected (overall was {old})",
        )

    def _booking(self, item: ResultRow) -> Booking:
        if item.reference:
            booking = self.by_reference.get(item.reference)
            if booking is None:
                raise RowInvalid(f"no booking with reference {clip(item.reference)}.", "booking")
            return booking
        assert item.student is not None and item.starts_at is not None
        product = self.products.get(item.product_code)
        tutor = self.tutors.get(item.tutor, "")
        student = self.students.get(item.student)
        if student is None and item.student[0] == "phone":
            student = self.students.get(("phone", a_phone(item.student[1], "student")))
        if student is None:
            raise RowInvalid(
                f"no student with {'e-mail' if item.student[0] == 'email' else 'phone'} {item.student[1]}.", "student"
            )
        found = [
            b
            for b in self.by_student_start.get((student.pk, product.pk, item.starts_at), [])
            if tutor is None or b.session.tutor_id == tutor.pk
        ]
        local = f"{timezone.localtime(item.starts_at):%Y-%m-%d %H:%M}"
        if not found:
            raise RowInvalid(f"{student} has no confirmed or completed {product.code} booking at {local}.", "student")
        if len({b.session_id for b in found}) > 1:
            raise RowInvalid(
                f"{student} has several {product.code} bookings at {local}: add the tutor or the booking.", "tutor"
            )
        return max(found, key=lambda b: b.pk)

    @staticmethod
    def _validate(result: TestResult) -> None:
        """TestResult's own rules (the 0.5 grid for IELTS bands, at least one raw score), per column.

        ``clean()`` first: "6.25 is not an IELTS band" says more than the field's decimal places.
        """
        problems: dict[str, list[str]] = {}
        for check, kwargs in ((result.clean, {}), (result.clean_fields, {"exclude": ["booking", "created_by"]})):
            try:
                check(**kwargs)
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    problems.setdefault(field, messages)
        if problems:
            (column, message), *more = [
                (None if field == "__all__" else field, f"{field}: {' '.join(messages)}")
                for field, messages in problems.items()
            ]
            raise RowInvalid(message, column, more=more)

    def write(self, plans: Sequence[Plan[ResultScores]]) -> None:
        record_results([plan.item for plan in plans if plan.item is not None], actor=self.actor, now=self.now)

    def describe(self, item: ResultRow | None, row: Row | None) -> str:
        if row is not None:
            return " · ".join(v for v in (row.get("booking"), row.get("student"), row.get("starts_at")) if v)
        return (item.reference or (item.student[1] if item.student else "")) if item else ""
