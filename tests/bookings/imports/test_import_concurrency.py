"""An import and a booking at the desk racing for the last seats, on PostgreSQL with real threads.

The import checks its rows, then writes; a booking committed in between must not be oversold
through: the import's conditional seat UPDATE fails, it rolls back and reports the row that no
longer fits. And once the import holds the seats, the desk's booking waits and then finds none.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from bookings import services
from bookings.errors import SessionFull
from bookings.imports import run_import
from bookings.models import SEAT_HOLDING, Booking, BookingSource, Session
from tests.bookings.imports.util import csv_bytes, future, local
from tests.factories import ProductFactory, SessionFactory, StudentFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def race():
    product = ProductFactory(code="IELTS-MOCK")
    start = future(days=5)
    session = SessionFactory(product=product, starts_at=start, ends_at=start + timedelta(hours=3), capacity=3)
    students = StudentFactory.create_batch(3)
    rows = [["student", "product_code", "starts_at"]] + [[s.phone, "IELTS-MOCK", local(start)] for s in students]
    return session, csv_bytes(rows)


def in_thread(work, results: dict, key: str) -> threading.Thread:
    def runner() -> None:
        try:
            results[key] = work()
        except Exception as exc:  # the test inspects it
            results[key] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=runner)
    thread.start()
    return thread


def assert_never_oversold(session: Session) -> None:
    session.refresh_from_db()
    holding = Booking.objects.filter(session=session, status__in=SEAT_HOLDING).count()
    assert session.seats_taken == holding <= session.capacity


def test_a_desk_booking_between_the_check_and_the_write_rolls_the_import_back(race, monkeypatch):
    session, data = race
    checked, booked = threading.Event(), threading.Event()
    from bookings.imports import bookings as module

    real_book_many = module.book_many

    def book_many_after_the_desk(*args, **kwargs):
        checked.set()
        assert booked.wait(10)
        return real_book_many(*args, **kwargs)

    monkeypatch.setattr(module, "book_many", book_many_after_the_desk)
    results: dict = {}
    importer = in_thread(
        lambda: run_import("bookings", data, filename="term.csv", actor=None, dry_run=False), results, "import"
    )
    assert checked.wait(10)
    desk = services.book(session=session, student=StudentFactory())  # the last-but-two seat, committed now
    booked.set()
    importer.join(20)

    report = results["import"]
    assert not isinstance(report, Exception), report
    assert not report.ok
    assert [(e.line, e.message.split(":")[0]) for e in report.errors] == [(4, "session full")]
    assert report.counts == {"new": 2, "updated": 0, "skipped": 0, "invalid": 1}
    assert list(Booking.objects.filter(session=session)) == [desk]
    assert not Booking.objects.filter(source=BookingSource.IMPORT).exists()
    assert_never_oversold(session)


def test_a_desk_booking_while_the_import_holds_the_seats_finds_the_session_full(race, monkeypatch):
    session, data = race
    seats_taken = threading.Event()
    from bookings.services import imports as service

    real_publish = service.publish_slots

    def hold_the_seats(slots):
        seats_taken.set()
        time.sleep(0.5)  # the desk's booking is now waiting for the session row
        return real_publish(slots)

    monkeypatch.setattr(service, "publish_slots", hold_the_seats)
    results: dict = {}
    importer = in_thread(
        lambda: run_import("bookings", data, filename="term.csv", actor=None, dry_run=False), results, "import"
    )
    assert seats_taken.wait(10)
    desk_student = StudentFactory()
    with pytest.raises(SessionFull):
        services.book(session=session, student=desk_student)
    importer.join(20)

    report = results["import"]
    assert not isinstance(report, Exception), report
    assert report.ok, [str(e) for e in report.errors]
    assert Booking.objects.filter(session=session, source=BookingSource.IMPORT).count() == 3
    assert not Booking.objects.filter(student=desk_student).exists()
    assert_never_oversold(session)
