"""A manager loads a term's bookings from a spreadsheet in a real browser: the first file has a row
for a student nobody knows and is refused with that line; the fixed file previews, is confirmed,
and its import record shows it done.

The live server runs django-q2 synchronously (``Conf.SYNC``, what ``Q_CLUSTER["sync"]`` sets), so
the confirm's task runs inside that request, as the worker of ``make run`` would a moment later.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.conf import Conf
from playwright.sync_api import expect

from bookings.models import Booking, ImportRecord, ImportStatus
from tests.factories import ManagerFactory, ProductFactory, SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def bookings_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(
        [["student", "product_code", "starts_at", "payment_method", "status"], *rows]
    )
    return buffer.getvalue().encode("utf-8-sig")  # as Excel saves "CSV UTF-8" here: BOM, semicolons


def upload(page, name: str, content: bytes) -> None:
    page.set_input_files("input[name=import_file]", files=[{"name": name, "mimeType": "text/csv", "buffer": content}])
    page.get_by_role("button", name="Check the file").click()


def test_a_manager_fixes_a_refused_file_then_imports_it(page, login, shot, monkeypatch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(Conf, "SYNC", True)
    starts = (timezone.localtime() + timedelta(days=6)).replace(hour=9, minute=0, second=0, microsecond=0)
    SessionFactory(product=ProductFactory(code="IELTS-MOCK", name="IELTS mock exam"), starts_at=starts, capacity=30)
    students = [
        StudentFactory(first_name="Dilnoza", last_name="Karimova", phone="+998901234567"),
        StudentFactory(first_name="Aziz", last_name="Rahimov", phone="+998935550011"),
    ]
    when = f"{starts:%Y-%m-%d %H:%M}"
    login(ManagerFactory())

    page.goto("/admin/bookings/booking/")
    page.locator('a[href="/admin/bookings/booking/import/"]').click()
    expect(page.locator("[data-import-columns]")).to_contain_text("payment_method")
    shot(page, "import-bookings-form")

    refused = [["90 123 45 67", "IELTS-MOCK", when, "cash", ""], ["+998 97 000 00 00", "IELTS-MOCK", when, "click", ""]]
    upload(page, "term.csv", bookings_csv(refused))
    expect(page.locator("[data-import-refused]")).to_contain_text("nothing was imported")
    error = page.locator("[data-import-errors] tr[data-line='3']")
    expect(error).to_contain_text("+998970000000")
    expect(page.locator("[data-count=invalid]")).to_have_text("1")
    expect(page.get_by_role("button", name="Confirm import")).to_have_count(0)
    shot(page, "import-bookings-refused")
    assert not Booking.objects.exists()

    fixed = [["90 123 45 67", "IELTS-MOCK", when, "cash", ""], ["93 555 00 11", "IELTS-MOCK", when, "click", ""]]
    upload(page, "term-fixed.csv", bookings_csv(fixed))
    expect(page.locator("[data-count=new]")).to_have_text("2")
    expect(page.locator("[data-import-preview] tr[data-action=new]")).to_have_count(2)
    shot(page, "import-bookings-preview")
    page.get_by_role("button", name="Confirm import").click()

    expect(page.locator("body")).to_contain_text("Import queued: you will be notified when it finishes.")
    expect(page.locator("[data-import-status]")).to_have_attribute("data-import-status", "done")
    shot(page, "import-bookings-record")
    record = ImportRecord.objects.get()
    assert (record.status, record.filename, record.new) == (ImportStatus.DONE, "term-fixed.csv", 2)
    assert sorted(Booking.objects.values_list("student__phone", flat=True)) == sorted(s.phone for s in students)

    page.goto("/admin/bookings/importrecord/")
    expect(page.locator("#result_list")).to_contain_text("term-fixed.csv")
    shot(page, "import-history")

    page.goto("/admin/bookings/booking/")
    expect(page.locator("#result_list")).to_contain_text("Karimova")
    page.locator('a[href^="/admin/bookings/booking/export/"]').click()
    expect(page.get_by_role("button", name="Submit")).to_be_visible()
    shot(page, "export-bookings-form")
    with page.expect_download() as download:
        page.get_by_role("button", name="Submit").click()
    assert download.value.suggested_filename.startswith("bookings-") and download.value.suggested_filename.endswith(
        ".csv"
    )
    exported = download.value.path().read_text(encoding="utf-8-sig")
    assert exported.startswith("student,product_code,starts_at,tutor,payment_method,status")
    assert "+998901234567" in exported and "+998935550011" in exported


def test_the_record_of_a_failed_import_lists_its_rows(page, login, shot):
    record = ImportRecord.objects.create(
        kind="bookings",
        filename="term.csv",
        status=ImportStatus.FAILED,
        total=3,
        new=2,
        invalid=1,
        errors=[{"line": 4, "column": None, "message": "The session is full: 30 of 30 seats taken."}],
        finished_at=timezone.now(),
    )
    login(ManagerFactory())

    page.goto(f"/admin/bookings/importrecord/{record.pk}/change/")

    expect(page.locator("[data-import-status]")).to_contain_text("Nothing was imported")
    expect(page.locator("[data-import-errors]")).to_contain_text("The session is full")
    shot(page, "import-record-failed")
