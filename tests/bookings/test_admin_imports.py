"""The admin's import pages: who may import what, the preview (counts, row errors, nothing
written), the confirm that queues the worker, the template downloads and the import history."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_q.conf import Conf
from django_q.models import OrmQ
from import_export.formats.base_formats import CSV, XLSX
from openpyxl import Workbook, load_workbook

from bookings.admin.exports import BookingExportResource
from bookings.admin.imports import STAGING_DIR, SpreadsheetImportForm
from bookings.imports import KINDS, execute_import_record
from bookings.models import Booking, BookingSource, ImportRecord, ImportStatus
from tests import broken_redis
from tests.bookings.imports.util import raw_xlsx, repeated, shared_row, text_row
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


# --- Uploads that cannot sink the server (issue 12) ------------------------------------------------


def test_an_upload_over_the_size_limit_is_refused_before_it_is_staged_or_read(client, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024
    client.force_login(ManagerFactory())

    response = preview(client, "bookings", SimpleUploadedFile("big.csv", b"student,product_code\r\n" + b"x" * 5000))

    assert response.context["form"].errors["import_file"] == [
        "big.csv is 5 KB: an import takes files of up to 1 KB (at most 100,000 rows). "
        "Split it into smaller files and import them one by one."
    ]
    assert response.context["report"] is None and staged_files() == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("big.csv", b"x" * 5000, "big.csv is 5 KB: an import takes files of up to 4 KB"),
        (
            "bomb.xlsx",
            raw_xlsx([text_row(1, "student")], shared_strings=["<si><t>", *repeated("x", 1), "</t></si>"]),
            "bomb.xlsx cannot be imported: its part xl/sharedStrings.xml unpacks to 1.0 MB, more than the 2 KB",
        ),
    ],
    ids=["too-big", "workbook-bomb"],
)
def test_the_upload_form_refuses_what_it_can_tell_from_the_size_and_the_zip_directory(settings, name, content, message):
    """Checked by the form, so a refused file is never copied to the staging folder."""
    settings.IMPORT_MAX_UPLOAD_BYTES = 4096
    form = SpreadsheetImportForm(
        [CSV, XLSX],
        [BookingExportResource],
        data={"resource": "0"},
        files={"import_file": SimpleUploadedFile(name, content)},
    )

    assert not form.is_valid()
    [error] = form.errors["import_file"]
    assert error.startswith(message)


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile("cell.csv", b"student,product_code,starts_at\r\n" + b"9" * 2**20 + b",X,Y\r\n"),
            "cell.csv, line 2: a cell is longer than 131,072 characters",
        ),
        (
            SimpleUploadedFile(
                "broken.xlsx",
                raw_xlsx(
                    [text_row(1, "student", "product_code", "starts_at"), '<row r="2"><c r="A2" t="inlineStr"><is>'],
                    dimension="A1:C2",
                ),
            ),
            "broken.xlsx could not be read as an Excel workbook after line 1",
        ),
    ],
    ids=["csv-cell-of-1-MB", "broken-workbook"],
)
def test_a_file_the_parsers_trip_over_is_a_form_error_and_leaves_no_staged_file(client, settings, upload, message):
    """A 1 MB cell made the csv module raise: the page answered 500 and kept the staged file."""
    settings.IMPORT_PREVIEW_INLINE_BYTES = 16 * 2**20  # checked in the request, as it was
    client.force_login(ManagerFactory())

    response = preview(client, "bookings", upload)

    [error] = response.context["form"].errors["import_file"]
    assert error.startswith(message)
    assert staged_files() == []


def test_the_preview_shortens_echoed_cells_and_counts_the_errors_it_does_not_show(client, sitting):
    client.force_login(ManagerFactory())
    rows = [HEADER] + [["y" * 900, "IELTS-MOCK", local(sitting.starts_at), "cash", ""]] * 250

    response = preview(client, "bookings", csv_upload(rows))

    html = response.content.decode()
    errors = response.context["errors"]
    assert len(errors) == 200 and response.context["more_errors"] == 50
    assert "The first 200 are shown; 50 more are not." in html
    assert errors[0].message == f"“{'y' * 80}…” in student is not a phone number."
    assert "y" * 81 not in html


def test_a_tiny_workbook_repeating_a_long_cell_gives_a_small_page(client, sitting):
    """The issue's 4.7 KB workbook: one 60,000-character shared string in 200 rows made a 12 MB page."""
    client.force_login(ManagerFactory())
    strings = ["student", "product_code", "starts_at", "IELTS-MOCK", local(sitting.starts_at), "z" * 60_000]
    workbook = raw_xlsx(
        [shared_row(1, 0, 1, 2)] + [shared_row(line, 5, 3, 4) for line in range(2, 202)],
        shared_strings=[f"<si><t>{text}</t></si>" for text in strings],
    )
    assert len(workbook) < 8 * 1024

    response = preview(client, "bookings", SimpleUploadedFile("tiny.xlsx", workbook))

    assert response.context["report"].counts["invalid"] == 200
    assert response.context["errors"][0].message == (
        "student has more than 1,000 characters: a cell holds at most 1,000."
    )
    assert b"z" * 81 not in response.content
    assert len(response.content) < 1_000_000  # 12 MB before


# --- Big files: checked by the worker, behind a page that refreshes itself (issue 12) --------------------


@pytest.fixture
def queue_kept(monkeypatch, settings):
    """Every upload checked by the worker; tasks kept on django-q2's ORM broker, nobody running them."""
    settings.IMPORT_PREVIEW_INLINE_BYTES = 0
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", "default")
    monkeypatch.setattr(Conf, "REDIS", None)


def test_a_big_file_is_checked_by_the_worker_while_its_page_shows_progress(client, sitting, queue_kept):
    from bookings.imports.previews import run_preview

    manager = ManagerFactory()
    client.force_login(manager)
    students = StudentFactory.create_batch(3)

    posted = client.post(url("bookings", "import"), {"import_file": csv_upload(booking_rows(sitting, students))})

    assert posted.status_code == 302
    page_url = posted["Location"]
    assert page_url.startswith(url("bookings", "import") + "?preview=")
    staged = page_url.split("=", 1)[1]
    waiting = client.get(page_url)
    assert "data-import-progress" in waiting.content.decode() and 'http-equiv="refresh"' in waiting.content.decode()
    assert waiting.context["report"] is None and waiting.context["confirm_form"] is None
    assert OrmQ.objects.count() == 1  # queued for the worker, not run by the request

    run_preview("bookings", staged, "term.csv", manager.pk)  # what the django-q2 task does

    ready = client.get(page_url)
    assert ready.context["report"].counts == {"new": 3, "updated": 0, "skipped": 0, "invalid": 0}
    assert "data-import-progress" not in ready.content.decode() and "Confirm import" in ready.content.decode()
    confirmed = client.post(url("bookings", "process_import"), ready.context["confirm_form"].initial)
    assert confirmed.status_code == 302
    assert ImportRecord.objects.get().status == ImportStatus.QUEUED
    assert staged_files() == []  # the upload went to the record; its check is forgotten
    assert not Booking.objects.exists()


def test_a_big_file_runs_through_django_q_end_to_end_when_it_runs_synchronously(client, sitting, settings, monkeypatch):
    settings.IMPORT_PREVIEW_INLINE_BYTES = 0
    monkeypatch.setattr(Conf, "SYNC", True)
    client.force_login(ManagerFactory())
    unknown = ["+998 99 000 00 00", "IELTS-MOCK", local(sitting.starts_at), "cash", ""]
    rows = [*booking_rows(sitting, StudentFactory.create_batch(2)), unknown]

    response = client.post(url("bookings", "import"), {"import_file": csv_upload(rows)}, follow=True)

    assert response.context["report"].counts == {"new": 2, "updated": 0, "skipped": 0, "invalid": 1}
    assert [(e.line, e.column) for e in response.context["errors"]] == [(4, "student")]
    assert response.context["confirm_form"] is None
    assert [name for name in staged_files() if not name.endswith(".json")] == []  # nothing to confirm


def test_nobody_else_sees_a_check(client, sitting, queue_kept):
    client.force_login(ManagerFactory())
    page_url = client.post(url("bookings", "import"), {"import_file": csv_upload(booking_rows(sitting, []))})[
        "Location"
    ]
    client.force_login(ManagerFactory())

    assert client.get(page_url).status_code == 404


def test_a_check_the_worker_never_finished_is_reported_not_awaited_for_ever(client, sitting, queue_kept):
    client.force_login(ManagerFactory())
    page_url = client.post(url("bookings", "import"), {"import_file": csv_upload(booking_rows(sitting, []))})[
        "Location"
    ]

    with time_machine.travel(timezone.now() + timedelta(minutes=15)):
        response = client.get(page_url)

    assert response.context["file_error"].startswith("The check of term.csv did not finish (is the worker running?)")
    assert "data-import-progress" not in response.content.decode()
    assert staged_files() == []


def test_a_big_file_with_the_queue_down_is_a_form_error_and_nothing_is_kept(client, sitting, settings, monkeypatch):
    settings.IMPORT_PREVIEW_INLINE_BYTES = 0
    client.force_login(ManagerFactory())
    with broken_redis.refusing() as down:
        monkeypatch.setattr(Conf, "SYNC", False)
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", down)

        response = preview(client, "bookings", csv_upload(booking_rows(sitting, StudentFactory.create_batch(1))))

    [error] = response.context["form"].errors["import_file"]
    assert error.startswith("term.csv could not be checked: the task queue is unreachable")
    assert staged_files() == []


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
