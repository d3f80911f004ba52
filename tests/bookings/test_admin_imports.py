"""The admin's import pages: who may import what, the preview (counts, row errors, nothing
written), the confirm that queues the worker, the template downloads and the import history."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_q.conf import Conf
from openpyxl import Workbook, load_workbook

from bookings.admin.imports import STAGING_DIR
from bookings.imports import KINDS, execute_import_record
from bookings.models import Booking, BookingSource, ImportRecord, ImportStatus
from tests.factories import (
    ManagerFactory,
    OperatorFactory,
    ProductFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
)

pytestmark = pytest.mark.django_db

MODEL_OF_KIND = {
    "sessions": "bookings_session",
    "students": "backoffice_student",
    "bookings": "bookings_booking",
    "results": "bookings_testresult",
}
HEADER = ["student", "product_code", "starts_at", "payment_method", "status"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def sitting(db):
    product = ProductFactory(code="IELTS-MOCK", name="IELTS mock", price=Decimal("350000"))
    starts = (timezone.localtime() + timedelta(days=5)).replace(hour=9, minute=0, second=0, microsecond=0)
    return SessionFactory(product=product, starts_at=starts, capacity=10)


def url(kind: str, view: str, *args: Any) -> str:
    return reverse(f"admin:{MODEL_OF_KIND[kind]}_{view}", args=args)


def local(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def csv_upload(rows: list[list[Any]], *, name: str = "term.csv", delimiter: str = ",", bom: bool = False):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return SimpleUploadedFile(name, buffer.getvalue().encode("utf-8-sig" if bom else "utf-8"), "text/csv")


def xlsx_upload(rows: list[list[Any]], *, name: str = "term.xlsx"):
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


def booking_rows(session, students) -> list[list[Any]]:
    return [HEADER] + [[s.phone, session.product.code, local(session.starts_at), "cash", ""] for s in students]


def staged_files() -> list[str]:
    try:
        return default_storage.listdir(STAGING_DIR)[1]
    except FileNotFoundError:
        return []


def preview(client, kind: str, upload) -> Any:
    response = client.post(url(kind, "import"), {"import_file": upload})
    assert response.status_code == 200
    return response


def logged_in(client, user):
    client.force_login(user)
    return client


# --- Who may import ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("operator", {"bookings", "students"}),
        ("manager", {"sessions", "students", "bookings", "results"}),
        ("tutor", set()),
    ],
)
def test_it_lets_each_role_import_only_its_kinds(client, role, allowed):
    user = {"operator": OperatorFactory, "manager": ManagerFactory, "tutor": lambda: TutorFactory().user}[role]()
    client.force_login(user)

    for kind in KINDS:
        page = client.get(url(kind, "import"))
        template = client.get(url(kind, "import_template", "csv"))
        expected = 200 if kind in allowed else 403
        assert (page.status_code, template.status_code) == (expected, expected), kind
        changelist = client.get(url(kind, "changelist"))
        if changelist.status_code == 200:  # a tutor has no students list at all
            assert (url(kind, "import") in changelist.content.decode()) == (kind in allowed), kind


def test_it_documents_the_columns_of_the_kind_and_offers_the_templates(client):
    client.force_login(ManagerFactory())

    page = client.get(url("bookings", "import"))

    html = page.content.decode()
    for column in KINDS["bookings"].columns:
        assert f'data-column="{column.name}"' in html
        assert escape(column.help) in html
    assert url("bookings", "import_template", "csv") in html
    assert url("bookings", "import_template", "xlsx") in html
    assert "format" not in page.context["form"].fields  # the engine tells CSV from XLSX itself


# --- The preview --------------------------------------------------------------------------------


def test_the_preview_shows_counts_and_row_errors_with_lines_and_writes_nothing(client, sitting):
    client.force_login(OperatorFactory())
    good = StudentFactory.create_batch(2)
    rows = [*booking_rows(sitting, good), ["+998 99 000 00 00", "IELTS-MOCK", local(sitting.starts_at), "cash", ""]]

    response = preview(client, "bookings", csv_upload(rows))

    report = response.context["report"]
    assert report.counts == {"new": 2, "updated": 0, "skipped": 0, "invalid": 1}
    assert [(e.line, e.column) for e in response.context["errors"]] == [(4, "student")]
    html = response.content.decode()
    assert "Fix the file and upload it again: nothing was imported." in html
    assert 'data-line="4"' in html and "+998990000000" in html
    assert 'data-count="new">2<' in html and 'data-count="invalid">1<' in html
    assert response.context["confirm_form"] is None and "Confirm import" not in html
    assert not Booking.objects.exists() and not ImportRecord.objects.exists()
    assert staged_files() == []  # nothing to confirm, nothing kept


def test_a_clean_preview_offers_the_confirm_and_keeps_the_file_until_then(client, sitting):
    client.force_login(OperatorFactory())

    response = preview(client, "bookings", csv_upload(booking_rows(sitting, StudentFactory.create_batch(3))))

    assert response.context["report"].counts == {"new": 3, "updated": 0, "skipped": 0, "invalid": 0}
    assert [row.action for row in response.context["report"].preview] == ["new"] * 3
    assert "Confirm import" in response.content.decode()
    assert response.context["confirm_form"].initial["filename"] == "term.csv"
    assert len(staged_files()) == 1
    assert not Booking.objects.exists()


def test_the_raw_file_reaches_the_parser_semicolons_bom_and_xlsx(client, sitting):
    client.force_login(ManagerFactory())
    students = StudentFactory.create_batch(2)
    rows = booking_rows(sitting, students)

    semicolons = preview(client, "bookings", csv_upload(rows, delimiter=";", bom=True))
    workbook = preview(client, "bookings", xlsx_upload(rows))

    for response in (semicolons, workbook):
        assert response.context["report"].ok, response.context["errors"]
        assert response.context["report"].counts["new"] == 2


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("notes.pdf", b"%PDF-1.4 not a table"), "notes.pdf is not a spreadsheet"),
        (SimpleUploadedFile("empty.csv", b""), "empty"),
        (SimpleUploadedFile("header.csv", b"student,starts_at\r\n+998901234567,2026-01-01 10:00\r\n"), "product_code"),
    ],
    ids=["not-a-spreadsheet", "empty", "missing-column"],
)
def test_a_file_level_problem_is_one_clear_form_error(client, upload, message):
    client.force_login(ManagerFactory())

    response = preview(client, "bookings", upload)

    errors = response.context["form"].errors["import_file"]
    assert len(errors) == 1 and message in errors[0]
    assert response.context["report"] is None
    assert staged_files() == [] and not ImportRecord.objects.exists()


# --- The confirm ------------------------------------------------------------------------------------


def test_confirm_queues_the_import_and_the_worker_imports_it(client, sitting, django_capture_on_commit_callbacks):
    operator = OperatorFactory()
    client.force_login(operator)
    students = StudentFactory.create_batch(3)
    confirm = preview(client, "bookings", csv_upload(booking_rows(sitting, students))).context["confirm_form"]

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(url("bookings", "process_import"), confirm.initial, follow=True)

    record = ImportRecord.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:bookings_importrecord_change", args=[record.pk])
    assert "Import queued: you will be notified when it finishes." in response.content.decode()
    assert (record.kind, record.status, record.filename, record.created_by) == (
        "bookings",
        "queued",
        "term.csv",
        operator,
    )
    assert record.file and record.file.read().startswith(b"student,product_code")
    assert len(queued) == 1 and not Booking.objects.exists()  # the task runs after commit, in the worker
    assert staged_files() == []

    execute_import_record(record.pk)  # what the django-q2 task does

    record.refresh_from_db()
    assert (record.status, record.new, record.invalid) == (ImportStatus.DONE, 3, 0)
    assert set(Booking.objects.values_list("student", flat=True)) == {s.pk for s in students}
    assert set(Booking.objects.values_list("source", flat=True)) == {BookingSource.IMPORT}
    page = client.get(reverse("admin:bookings_importrecord_change", args=[record.pk])).content.decode()
    assert 'data-import-status="done"' in page


def test_confirm_runs_through_django_q_when_it_runs_synchronously(
    client, sitting, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(Conf, "SYNC", True)
    client.force_login(ManagerFactory())
    confirm = preview(client, "bookings", csv_upload(booking_rows(sitting, StudentFactory.create_batch(2))))

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("bookings", "process_import"), confirm.context["confirm_form"].initial)

    record = ImportRecord.objects.get()
    assert (record.status, record.new) == (ImportStatus.DONE, 2)
    assert Booking.objects.count() == 2


def test_a_second_confirm_of_the_same_upload_imports_nothing_more(client, sitting):
    client.force_login(ManagerFactory())
    confirm = preview(client, "bookings", csv_upload(booking_rows(sitting, [StudentFactory()]))).context["confirm_form"]
    client.post(url("bookings", "process_import"), confirm.initial)

    again = client.post(url("bookings", "process_import"), confirm.initial, follow=True)

    assert again.redirect_chain[-1][0] == url("bookings", "import")
    assert "already been imported or has expired" in again.content.decode()
    assert ImportRecord.objects.count() == 1


def test_confirm_accepts_only_a_staged_name_and_only_a_post(client):
    client.force_login(ManagerFactory())

    tampered = client.post(
        url("bookings", "process_import"), {"staged": "../../settings.py", "filename": "x.csv"}, follow=True
    )

    assert "already been imported or has expired" in tampered.content.decode()
    assert not ImportRecord.objects.exists()
    assert client.get(url("bookings", "process_import")).status_code == 405


def test_an_operator_cannot_confirm_a_kind_they_may_not_import(client):
    client.force_login(OperatorFactory())

    response = client.post(url("sessions", "process_import"), {"staged": "0" * 32 + ".csv", "filename": "s.csv"})

    assert response.status_code == 403


# --- Templates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_templates_have_the_binding_columns_in_csv_and_xlsx(client, kind):
    client.force_login(ManagerFactory())
    names = [column.name for column in KINDS[kind].columns]

    as_csv = client.get(url(kind, "import_template", "csv"))
    as_xlsx = client.get(url(kind, "import_template", "xlsx"))

    assert as_csv.status_code == 200 and "attachment" in as_csv["Content-Disposition"]
    header = next(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert header == names
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).active
    assert list(next(sheet.iter_rows(values_only=True))) == names
    assert client.get(url(kind, "import_template", "pdf")).status_code == 404


# --- Import history ---------------------------------------------------------------------------------


@pytest.fixture
def failed_record(db):
    record = ImportRecord.objects.create(
        kind="bookings",
        filename="term.csv",
        status=ImportStatus.FAILED,
        created_by=OperatorFactory(),
        total=2,
        new=1,
        invalid=1,
        errors=[{"line": 3, "column": "student", "message": "No student with phone +998990000000."}],
        finished_at=timezone.now(),
    )
    record.file.save("term.csv", SimpleUploadedFile("term.csv", b"student,product_code\r\n"), save=True)
    return record


def test_the_history_lists_imports_and_a_record_shows_its_errors_and_file(client, failed_record):
    client.force_login(OperatorFactory())

    listing = client.get(reverse("admin:bookings_importrecord_changelist"))
    page = client.get(reverse("admin:bookings_importrecord_change", args=[failed_record.pk]))
    download = client.get(reverse("admin:bookings_importrecord_file", args=[failed_record.pk]))

    assert list(listing.context["cl"].result_list) == [failed_record]
    assert "1 new · 0 updated · 0 skipped · 1 invalid" in listing.content.decode()
    html = page.content.decode()
    assert 'data-import-status="failed"' in html and "data-import-errors" in html
    assert "No student with phone +998990000000." in html
    assert reverse("admin:bookings_importrecord_file", args=[failed_record.pk]) in html
    assert 'name="_save"' not in html  # read-only
    assert b"".join(download.streaming_content) == b"student,product_code\r\n"
    assert 'filename="term.csv"' in download["Content-Disposition"]


def test_the_history_is_read_only_and_hidden_from_tutors(client, failed_record):
    client.force_login(ManagerFactory())
    assert client.get(reverse("admin:bookings_importrecord_add")).status_code == 403
    assert client.post(reverse("admin:bookings_importrecord_delete", args=[failed_record.pk])).status_code == 403

    client.force_login(TutorFactory().user)
    assert client.get(reverse("admin:bookings_importrecord_changelist")).status_code == 403
    assert client.get(reverse("admin:bookings_importrecord_file", args=[failed_record.pk])).status_code == 403


def test_a_queued_record_page_refreshes_itself_until_it_finishes(client, failed_record):
    client.force_login(ManagerFactory())
    failed_record.status = ImportStatus.QUEUED
    failed_record.save()

    page = client.get(reverse("admin:bookings_importrecord_change", args=[failed_record.pk])).content.decode()

    assert 'http-equiv="refresh"' in page and 'data-import-status="queued"' in page


@pytest.mark.parametrize(("role", "shown"), [("manager", True), ("operator", True), ("tutor", False)])
def test_the_sidebar_links_the_import_history_in_the_system_group(client, role, shown):
    user = {"operator": OperatorFactory, "manager": ManagerFactory, "tutor": lambda: TutorFactory().user}[role]()
    client.force_login(user)

    html = client.get(reverse("admin:index")).content.decode()

    assert (reverse("admin:bookings_importrecord_changelist") in html) == shown
