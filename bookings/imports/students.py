"""Students import: keyed by phone (E.164) or else e-mail; names updated, contact details filled in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models.functions import Lower

from backoffice.models import Role, Student, User
from bookings.imports.base import Column, Importer, Plan, RowInvalid, a_phone, an_email, chunks, found_headers
from bookings.imports.parsing import ImportFileError, Row
from bookings.imports.report import clip
from bookings.services.imports import NewStudent, create_students, update_students

NAME_LENGTH = User._meta.get_field("first_name").max_length
USER_FIELDS = ("id", "username", "first_name", "last_name", "email", "phone", "role")


@dataclass(slots=True)
class StudentRow:
    phone: str
    email: str
    first_name: str
    last_name: str


class StudentsImporter(Importer[StudentRow]):
    kind = "students"
    label = "Students"
    permission = "backoffice.import_student"
    model = Student
    columns = [
        Column(
            "phone",
            False,
            "Mobile number; +998 90 123 45 67, 998901234567 and 901234567 all work.",
            "+998 90 123 45 67",
        ),
        Column("email", False, "E-mail address (phone or e-mail is required).", "aziz@example.com"),
        Column("first_name", False, "First name.", "Aziz"),
        Column("last_name", False, "Last name.", "Karimov"),
    ]

    @classmethod
    def check_headers(cls, headers: Sequence[str], filename: str) -> None:
        if "phone" not in headers and "email" not in headers:
            raise ImportFileError(
                "The file has no column “phone”: the students import needs phone or email, "
                f"and first_name, last_name (found: {found_headers(headers)})."
            )

    @classmethod
    def required_text(cls) -> str:
        return "phone or email"

    def parse(self, line: int, row: Row) -> StudentRow:
        phone_text, email_text = row.get("phone", ""), row.get("email", "")
        if not phone_text and not email_text:
            raise RowInvalid("give a phone or an e-mail: a student is found by one of them.", "phone")
        first_name, last_name = row.get("first_name", ""), row.get("last_name", "")
        for column, value in (("first_name", first_name), ("last_name", last_name)):
            if len(value) > NAME_LENGTH:
                raise RowInvalid(f"{column} is longer than {NAME_LENGTH} characters.", column)
        problems: list[tuple[str | None, str]] = []
        phone = email = ""
        try:
            phone = a_phone(phone_text) if phone_text else ""
        except RowInvalid as exc:
            problems.append((exc.column, exc.message))
        try:
            email = an_email(email_text) if email_text else ""
        except RowInvalid as exc:
            problems.append((exc.column, exc.message))
        if problems:
            (column, message), *more = problems
            raise RowInvalid(message, column, more=more)
        return StudentRow(phone=phone, email=email, first_name=first_name, last_name=last_name)

    def preload(self, items: Sequence[StudentRow]) -> None:
        self.by_phone: dict[str, User] = {}
        self.by_email: dict[str, User] = {}
        users = User.objects.only(*USER_FIELDS)
        for batch in chunks(sorted({item.phone for item in items if item.phone})):
            self.by_phone.update((user.phone, user) for user in users.filter(phone__in=batch))
        for batch in chunks(sorted({item.email for item in items if item.email})):
            for user in users.annotate(email_key=Lower("email")).filter(email_key__in=batch):
                self.by_email[user.email_key] = user
        self.phone_line: dict[str, int] = {}
        self.email_line: dict[str, int] = {}

    def plan(self, line: int, item: StudentRow) -> Plan[object]:
        summary = " · ".join(v for v in (f"{item.first_name} {item.last_name}".strip(), item.phone, item.email) if v)
        for value, seen, column in ((item.phone, self.phone_line, "phone"), (item.email, self.email_line, "email")):
            if value and value in seen:
                raise RowInvalid(f"{clip(value)} is already on line {seen[value]}: a student appears once.", column)
        if item.phone:
            self.phone_line[item.phone] = line
        if item.email:
            self.email_line[item.email] = line

        by_phone = self.by_phone.get(item.phone) if item.phone else None
        by_email = self.by_email.get(item.email) if item.email else None
        if by_phone and by_email and by_phone.pk != by_email.pk:
            raise RowInvalid(
                f"phone {item.phone} belongs to {by_phone} but e-mail {item.email} to {by_email}: "
                "they are two different people.",
                "email",
            )
        user = by_phone or by_email
        if user is None:
            return Plan(line, "new", summary, NewStudent(item.phone, item.email, item.first_name, item.last_name))
        if user.role != Role.STUDENT:
            raise RowInvalid(
                f"{item.phone or item.email} belongs to {user} ({user.get_role_display().lower()}), not a student.",
                "phone" if by_phone else "email",
            )
        changes: list[str] = []
        notes: list[str] = []
        for field in ("first_name", "last_name"):
            value = getattr(item, field)
            if value and value != getattr(user, field):
                changes.append(f"{field.replace('_', ' ')} {getattr(user, field) or '—'} → {value}")
                setattr(user, field, value)
        for field in ("phone", "email"):
            value, current = getattr(item, field), getattr(user, field)
            if value and not current:
                changes.append(f"{field} added")
                setattr(user, field, value)
            elif value and current.lower() != value:
                notes.append(f"{field} on record kept: {current}")
        if not changes:
            return Plan(line, "skipped", summary, message="; ".join(["already there, unchanged", *notes]))
        return Plan(line, "updated", summary, user, "; ".join(changes + notes))

    def write(self, plans: Sequence[Plan[object]]) -> None:
        create_students([plan.item for plan in plans if isinstance(plan.item, NewStudent)])
        update_students(
            [plan.item for plan in plans if isinstance(plan.item, User)],
            ["first_name", "last_name", "phone", "email"],
        )

    def describe(self, item: StudentRow | None, row: Row | None) -> str:
        if row is not None:
            names = f"{row.get('first_name', '')} {row.get('last_name', '')}".strip()
            return " · ".join(v for v in (names, row.get("phone"), row.get("email")) if v)
        return " · ".join(v for v in (item.phone, item.email) if v) if item else ""
