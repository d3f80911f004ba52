from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings import services
from bookings.models import (
    Booking,
    BookingEvent,
    BookingSource,
    BookingStatus,
    ImportRecord,
    ImportStatus,
    Reminder,
    Session,
)
from realtime.models import Notification
from tests.bookings.imports.util import future, local, messages, run
from tests.factories import OperatorFactory, ProductFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db

HEADER = ["student", "product_code", "starts_at", "payment_method", "status"]


@pytest.fixture
def mock(db):
    return ProductFactory(code="IELTS-MOCK", name="IELTS mock", price=Decimal("350000"), payment_window_hours=24)


@pytest.fixture
def sitting(mock):
    starts = future(days=5)
    return SessionFactory(product=mock, starts_at=starts, ends_at=starts + timedelta(hours=3), capacity=10)


def rows_for(session: Session, students, **extra: str) -> list[list[str]]:
    return [HEADER] + [
        [
            s.phone,
            session.product.code,
            local(session.starts_at),
            extra.get("payment_method", "cash"),
            extra.get("status", ""),
        ]
        for s in students
    ]


def test_it_books_every_row_as_book_would(sitting):
    students = StudentFactory.create_batch(3)
    operator = OperatorFactory()
    now = timezone.now().replace(microsecond=0)

    with time_machine.travel(now, tick=False):
        report = run("bookings", rows_for(sitting, students, payment_method="click"), actor=operator)

    assert report.ok, messages(report)
    assert report.counts == {"new": 3, "updated": 0, "skipped": 0, "invalid": 0}
    bookings = Booking.objects.filter(session=sitting)
    assert {b.student_id for b in bookings} == {s.pk for s in students}
    for booking in bookings:
        assert booking.status == BookingStatus.PENDING
        assert booking.price == Decimal("350000")
        assert booking.payment_method == "click"
        assert booking.source == BookingSource.IMPORT
        assert booking.created_by == operator
        assert booking.expires_at == now + timedelta(hours=24)
        assert len(booking.reference) == 7
        event = BookingEvent.objects.get(booking=booking)
        assert (event.action, event.actor, event.data["source"]) == ("booking.created", operator, "import")
    sitting.refresh_from_db()
    assert sitting.seats_taken == 3
    assert len({b.reference for b in bookings}) == 3


def test_a_dry_run_predicts_and_writes_nothing(sitting):
    students = StudentFactory.create_batch(2)

    report = run("bookings", rows_for(sitting, students), dry_run=True)

    assert report.ok and report.dry_run
    assert report.counts["new"] == 2
    assert [row.action for row in report.preview] == ["new", "new"]
    assert "dry run" in report.summary
    assert not Booking.objects.exists()
    assert not ImportRecord.objects.exists()
    sitting.refresh_from_db()
    assert sitting.seats_taken == 0


def test_confirmed_rows_are_booked_then_confirmed_with_reminders(sitting):
    student = StudentFactory()

    report = run("bookings", rows_for(sitting, [student], status="confirmed"))

    assert report.ok, messages(report)
    booking = Booking.objects.get()
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.expires_at is None and booking.confirmed_at is not None
    assert list(booking.events.values_list("action", flat=True)) == ["booking.created", "booking.confirmed"]
    assert booking.events.get(action="booking.confirmed").data == {"via": "import"}
    # As confirm(): e-mail, SMS and (no tutor) the student's push, at all three offsets (five days away).
    assert Reminder.objects.filter(booking=booking).count() == 9
    assert set(Reminder.objects.filter(booking=booking).values_list("recipient_id", flat=True)) == {student.pk}


def test_free_products_and_auto_confirm_tutors_confirm_at_once(mock):
    tutor = TutorFactory(auto_confirm=True)
    starts = future(days=4)
    with_tutor = SessionFactory(product=mock, tutor=tutor, starts_at=starts, capacity=3)
    free = ProductFactory(code="FREE-TALK", price=Decimal("0"))
    free_session = SessionFactory(product=free, starts_at=starts, capacity=3)
    student = StudentFactory()

    report = run(
        "bookings",
        [
            HEADER,
            [student.phone, "IELTS-MOCK", local(starts), "", ""],
            [student.email, "FREE-TALK", local(starts), "", ""],
        ],
    )

    assert report.ok, messages(report)
    vias = {b.session_id: b.events.get(action="booking.confirmed").data["via"] for b in Booking.objects.all()}
    assert vias == {with_tutor.pk: "auto_confirm", free_session.pk: "free"}
    assert set(Booking.objects.values_list("status", flat=True)) == {BookingStatus.CONFIRMED}


def test_reimporting_the_same_file_changes_nothing_and_says_so(sitting):
    rows = rows_for(sitting, StudentFactory.create_batch(4))
    assert run("bookings", rows).ok
    counts = (Booking.objects.count(), BookingEvent.objects.count(), Reminder.objects.count())

    again = run("bookings", rows)

    assert again.ok
    assert again.counts == {"new": 0, "updated": 0, "skipped": 4, "invalid": 0}
    assert {row.message for row in again.preview} == {"already booked"}
    assert "nothing changed" in again.summary
    assert (Booking.objects.count(), BookingEvent.objects.count(), Reminder.objects.count()) == counts
    sitting.refresh_from_db()
    assert sitting.seats_taken == 4


def test_one_bad_row_among_good_ones_writes_nothing(sitting):
    rows = rows_for(sitting, StudentFactory.create_batch(3))
    rows.insert(3, ["+998 90 000 00 00", "IELTS-X", local(sitting.starts_at), "", ""])

    report = run("bookings", rows, actor=OperatorFactory())

    assert not report.ok
    assert report.counts == {"new": 3, "updated": 0, "skipped": 0, "invalid": 1}
    assert messages(report) == ["Line 4: unknown product “IELTS-X” (known: IELTS-MOCK)."]
    assert Booking.objects.count() == 0
    assert BookingEvent.objects.count() == 0
    assert Session.objects.get(pk=sitting.pk).seats_taken == 0
    record = ImportRecord.objects.get()
    assert record.status == ImportStatus.FAILED
    assert (record.new, record.invalid) == (3, 1)
    assert record.errors == [{"line": 4, "column": "product_code", "message": report.errors[0].message}]
    assert "nothing was imported" in report.summary


def test_capacity_is_counted_across_the_file(mock):
    starts = future(days=6)
    session = SessionFactory(product=mock, starts_at=starts, capacity=3)
    services.book(session=session, student=StudentFactory())
    students = StudentFactory.create_batch(3)

    report = run("bookings", rows_for(session, students))

    assert report.counts["new"] == 2 and report.counts["invalid"] == 1
    [error] = report.errors
    assert error.line == 4
    assert "session full: all 3 seats" in error.message.lower()
    assert "2 of them by earlier lines of this file" in error.message
    assert Booking.objects.count() == 1


def test_a_full_session_refuses_the_row(mock):
    session = SessionFactory(product=mock, starts_at=future(days=6), capacity=1)
    services.book(session=session, student=StudentFactory())

    report = run("bookings", rows_for(session, [StudentFactory()]))

    when = f"{timezone.localtime(session.starts_at):%a %d %b %Y %H:%M}"
    assert [e.message for e in report.errors] == [f"session full: all 1 seats of IELTS mock · {when} are taken."]


@pytest.mark.parametrize("typed", ["+998 90 123 45 67", "901234567", "998901234567", "+998901234567", "90-123-45-67"])
def test_it_finds_the_student_by_any_way_of_writing_the_phone(sitting, typed):
    student = StudentFactory(phone="+998901234567")

    report = run("bookings", [HEADER, [typed, "IELTS-MOCK", local(sitting.starts_at), "", ""]])

    assert report.ok, messages(report)
    assert Booking.objects.get().student == student


def test_it_finds_the_student_by_e_mail_in_any_case(sitting):
    student = StudentFactory(email="aziz@example.com")

    report = run("bookings", [HEADER, ["Aziz@Example.COM", "ielts-mock", local(sitting.starts_at), "", ""]])

    assert report.ok, messages(report)
    assert Booking.objects.get().student == student


def test_it_explains_each_bad_row(sitting):
    StudentFactory(phone="+998901111111")
    when = local(sitting.starts_at)
    rows = [
        HEADER,
        ["12ab", "IELTS-MOCK", when, "", ""],
        ["+998 90 222 22 22", "IELTS-MOCK", when, "", ""],
        ["+998901111111", "IELTS-MOCK", "05/12/2026 9am", "", ""],
        ["+998901111111", "IELTS-MOCK", when, "cheque", ""],
        ["+998901111111", "IELTS-MOCK", when, "", "cancelled"],
        ["+998901111111", "IELTS-MOCK", local(sitting.starts_at + timedelta(hours=1)), "", ""],
        ["+998901111111", "IELTS-MOCK", when, "", ""],
        ["+998 90 111 11 11", "IELTS-MOCK", when, "", ""],
    ]

    report = run("bookings", rows)

    assert messages(report) == [
        "Line 2: “12ab” in student is not a phone number.",
        "Line 3: No student with phone +998902222222 — import students first or add them.",
        "Line 4: “05/12/2026 9am” in starts_at is not a date and time: use YYYY-MM-DD HH:MM.",
        "Line 5: “cheque” in payment_method is not one of: cash, click, payme.",
        "Line 6: status “cancelled” cannot be imported: use pending or confirmed.",
        f"Line 7: no IELTS-MOCK session starts at {local(sitting.starts_at + timedelta(hours=1))} — "
        "import or add the session first.",
        "Line 9: the same student and session as line 8: remove one of them.",
    ]
    assert [e.column for e in report.errors] == [
        "student",
        "student",
        "starts_at",
        "payment_method",
        "status",
        "starts_at",
        "student",
    ]
    assert report.counts == {"new": 1, "updated": 0, "skipped": 0, "invalid": 7}
    assert not Booking.objects.exists()


def test_it_asks_for_the_tutor_when_several_sessions_start_together(mock):
    starts = future(days=5)
    first, second = TutorFactory(), TutorFactory()
    SessionFactory(product=mock, tutor=first, starts_at=starts)
    chosen = SessionFactory(product=mock, tutor=second, starts_at=starts)
    student = StudentFactory()
    header = [*HEADER, "tutor"]

    ambiguous = run("bookings", [header, [student.phone, "IELTS-MOCK", local(starts), "", "", ""]])
    picked = run("bookings", [header, [student.phone, "IELTS-MOCK", local(starts), "", "", second.user.email.upper()]])

    assert "2 IELTS-MOCK sessions start at" in ambiguous.errors[0].message
    assert "add a tutor column to say which" in ambiguous.errors[0].message
    assert picked.ok, messages(picked)
    assert Booking.objects.get().session == chosen


def test_it_keeps_the_rules_of_book_for_closed_and_started_sessions(mock):
    closed = SessionFactory(product=mock, starts_at=future(days=2), capacity=5)
    services.close_session(closed)
    soon = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=30)
    started = SessionFactory(product=mock, starts_at=soon, capacity=5)
    student = StudentFactory()

    with time_machine.travel(soon + timedelta(minutes=5)):
        report = run(
            "bookings",
            [
                HEADER,
                [student.phone, "IELTS-MOCK", local(closed.starts_at), "", ""],
                [student.phone, "IELTS-MOCK", local(started.starts_at), "", ""],
            ],
        )

    assert [e.message for e in report.errors] == [f"{closed} is closed for booking.", f"{started} has already started."]


def test_it_publishes_slots_per_session_and_one_import_finished(sitting, django_capture_on_commit_callbacks):
    operator = OperatorFactory()
    tutor_user = TutorFactory().user
    students = StudentFactory.create_batch(3)

    report = run("bookings", rows_for(sitting, students), actor=operator)

    assert report.ok
    # No booking.created per row: nobody gets three toasts for one file.
    assert not Notification.objects.filter(type="booking.created").exists()
    [note] = Notification.objects.filter(recipient=operator)
    assert note.type == "import.finished"
    assert note.message == "Bookings import of bookings.csv: 3 new."
    assert note.data["data"]["counts"] == {"new": 3, "updated": 0, "skipped": 0, "invalid": 0}
    assert note.data["data"]["record"] == report.record.pk
    assert not Notification.objects.filter(recipient=tutor_user).exists()


def test_the_number_of_queries_does_not_grow_with_the_rows(mock, monkeypatch):
    if connection.vendor == "sqlite":
        # Django splits an SQLite INSERT at 999 parameters (the limit before SQLite 3.32), so the
        # batches of 100 rows would split by size alone; this SQLite takes 32766.
        monkeypatch.setattr(connection.features, "max_query_params", 32766)
    small = SessionFactory(product=mock, starts_at=future(days=3), capacity=200)
    large = SessionFactory(product=mock, starts_at=future(days=4), capacity=200)
    few, many = StudentFactory.create_batch(10), StudentFactory.create_batch(100)

    with CaptureQueriesContext(connection) as ten:
        assert run("bookings", rows_for(small, few, status="confirmed")).ok
    with CaptureQueriesContext(connection) as hundred:
        assert run("bookings", rows_for(large, many, status="confirmed")).ok

    assert Booking.objects.count() == 110
    assert len(ten.captured_queries) == len(hundred.captured_queries), "\n".join(
        q["sql"][:100] for q in hundred.captured_queries
    )


def test_new_references_never_clash_with_each_other_or_existing_ones(sitting, monkeypatch):
    existing = services.book(session=sitting, student=StudentFactory())
    Booking.objects.filter(pk=existing.pk).update(reference="AAAAAAA")
    import secrets

    real = secrets.token_bytes
    calls = []

    def first_all_zeros(n: int) -> bytes:
        calls.append(n)
        return bytes(n) if len(calls) == 1 else real(n)  # every reference "AAAAAAA" at first

    monkeypatch.setattr("bookings.services.imports.secrets.token_bytes", first_all_zeros)

    report = run("bookings", rows_for(sitting, StudentFactory.create_batch(3)))

    assert report.ok, messages(report)
    references = list(Booking.objects.values_list("reference", flat=True))
    assert len(references) == len(set(references)) == 4
    assert len(calls) >= 2
