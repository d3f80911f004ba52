from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from bookings.models import BookingEvent, BookingStatus, Session, TestResult
from tests.bookings.imports.util import future, local, messages, run
from tests.factories import ManagerFactory, ProductFactory, SessionFactory, StudentFactory, booking_in

pytestmark = pytest.mark.django_db

HEADER = ["booking", "listening", "reading", "writing", "speaking", "test_date"]


@pytest.fixture
def sitting(db):
    product = ProductFactory(code="IELTS-MOCK", name="IELTS mock")
    start = future(days=2, hour=9)
    return SessionFactory(product=product, starts_at=start, ends_at=start + timedelta(hours=3), capacity=10)


@pytest.fixture
def after_start(sitting):
    with time_machine.travel(sitting.starts_at + timedelta(hours=4), tick=False):
        yield


def test_it_records_results_and_completes_confirmed_bookings(sitting):
    confirmed = booking_in(BookingStatus.CONFIRMED, session=sitting)
    completed = booking_in(BookingStatus.COMPLETED, session=sitting)
    manager = ManagerFactory()

    with time_machine.travel(sitting.starts_at + timedelta(hours=4), tick=False):
        report = run(
            "results",
            [
                HEADER,
                [confirmed.reference, "6.5", "7", "6", "6,5", ""],
                [completed.reference.lower(), "5", "5", "5.5", "5", "2026-01-15"],
            ],
            actor=manager,
        )

    assert report.ok, messages(report)
    assert report.counts["new"] == 2
    first = TestResult.objects.get(booking=confirmed)
    assert (first.listening, first.speaking, first.overall) == (Decimal("6.5"), Decimal("6.5"), Decimal("6.5"))
    assert first.test_date == timezone.localdate(sitting.starts_at)
    assert first.created_by == manager
    assert TestResult.objects.get(booking=completed).test_date == date(2026, 1, 15)
    confirmed.refresh_from_db()
    assert (confirmed.status, confirmed.has_result) == (BookingStatus.COMPLETED, True)
    assert list(
        confirmed.events.filter(action__in=["result.recorded", "booking.completed"]).values_list("action", flat=True)
    ) == ["result.recorded", "booking.completed"]
    # A completed booking no longer holds a seat.
    assert Session.objects.get(pk=sitting.pk).seats_taken == 0


def test_it_finds_the_booking_by_student_product_and_start(sitting, after_start):
    student = StudentFactory(phone="+998901234567")
    with time_machine.travel(sitting.starts_at - timedelta(days=1)):
        booking = booking_in(BookingStatus.CONFIRMED, session=sitting, student=student)

    report = run(
        "results",
        [
            ["student", "product_code", "starts_at", "listening", "reading", "writing", "speaking"],
            ["90 123 45 67", "IELTS-MOCK", local(sitting.starts_at), "7", "7", "7", "7"],
        ],
    )

    assert report.ok, messages(report)
    assert TestResult.objects.get().booking == booking


def test_reimport_skips_and_changed_scores_are_corrected_with_history(sitting):
    booking = booking_in(BookingStatus.CONFIRMED, session=sitting)
    with time_machine.travel(sitting.starts_at + timedelta(hours=4), tick=False):
        rows = [HEADER, [booking.reference, "6.5", "7", "6", "6.5", ""]]
        assert run("results", rows).ok
        again = run("results", rows)
        corrected = run("results", [HEADER, [booking.reference, "7.5", "7", "6", "6.5", ""]])

    assert again.counts == {"new": 0, "updated": 0, "skipped": 1, "invalid": 0}
    assert again.preview[0].message == "same scores already recorded"
    assert corrected.counts["updated"] == 1
    result = TestResult.objects.get()
    assert (result.listening, result.overall) == (Decimal("7.5"), Decimal("7.0"))
    event = BookingEvent.objects.get(action="result.corrected")
    assert (event.data["old"]["listening"], event.data["new"]["listening"]) == ("6.5", "7.5")
    assert (event.data["old"]["overall"], event.data["new"]["overall"]) == ("6.5", "7.0")


def test_it_explains_each_bad_row(sitting):
    good = booking_in(BookingStatus.CONFIRMED, session=sitting)
    pending = booking_in(BookingStatus.PENDING, session=sitting)
    later = SessionFactory(product=sitting.product, starts_at=sitting.starts_at + timedelta(days=3))
    not_started = booking_in(BookingStatus.CONFIRMED, session=later)
    rows = [
        HEADER,
        [good.reference, "6.25", "7", "9.5", "6", ""],
        [good.reference, "6", "7", "", "6", ""],
        ["NOSUCH1", "6", "6", "6", "6", ""],
        [pending.reference, "6", "6", "6", "6", ""],
        [not_started.reference, "6", "6", "6", "6", ""],
        [good.reference, "abc", "6", "6", "6", "05/12"],
        ["", "6", "6", "6", "6", ""],
    ]

    with time_machine.travel(sitting.starts_at + timedelta(hours=4), tick=False):
        report = run("results", rows)

    assert [(e.line, e.column) for e in report.errors] == [
        (2, "listening"),
        (2, "writing"),
        (3, "booking"),
        (4, "booking"),
        (5, "booking"),
        (6, "booking"),
        (7, "listening"),
        (7, "test_date"),
        (8, "booking"),
    ]
    text = messages(report)
    assert "6.25 is not an IELTS band: use 0–9 in steps of 0.5." in text[0]
    assert "9.5 is not an IELTS band" in text[1]
    assert text[2] == f"Line 3: booking {good.reference} is already on line 2."
    assert text[3] == "Line 4: no booking with reference NOSUCH1."
    assert text[4] == (
        f"Line 5: booking {pending.reference} is pending payment: only a confirmed or completed "
        "booking can get a result."
    )
    assert text[5] == f"Line 6: {later} has not started yet: there is no result to record."
    assert text[6] == "Line 7: “abc” in listening is not a number."
    assert text[7] == "Line 7: “05/12” in test_date is not a date: use YYYY-MM-DD."
    assert text[8] == "Line 8: give the booking reference, or the student, product_code and starts_at."
    assert not TestResult.objects.exists()


def test_an_ielts_result_needs_all_four_bands(sitting):
    booking = booking_in(BookingStatus.CONFIRMED, session=sitting)

    with time_machine.travel(sitting.starts_at + timedelta(hours=4), tick=False):
        report = run("results", [HEADER, [booking.reference, "6", "7", "", "6", ""]])

    assert messages(report) == ["Line 2: writing: Enter a band score."]
