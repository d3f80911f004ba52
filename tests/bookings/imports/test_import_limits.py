"""Uploads that cannot sink the server (issue 12): a size limit checked before the file is read,
workbook parts measured before openpyxl unpacks them, blank rows counted, long cells refused, and
a clear message (never an exception) for whatever the parsers trip over."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from bookings.imports import ImportFileError, execute_import_record, queue_import, read_table, run_import
from bookings.models import ImportRecord, ImportStatus
from tests.bookings.imports.util import csv_bytes, raw_xlsx, repeated, shared_row, text_row
from tests.factories import OperatorFactory

STUDENTS = [["phone", "first_name"], ["901234567", "Aziz"], ["901234568", "Malika"]]


class Unreadable(io.BytesIO):
    """An upload whose content must not be looked at: reading it fails the test."""

    def read(self, *args: object) -> bytes:
        raise AssertionError("the file was read")

    def read1(self, *args: object) -> bytes:
        raise AssertionError("the file was read")


def refusal(source: object, filename: str) -> str:
    with pytest.raises(ImportFileError) as caught:
        table = read_table(source, filename=filename)  # type: ignore[arg-type]
        list(table.rows)
    return caught.value.message


# --- The size limit, before a byte is read -----------------------------------------------------------


def test_it_refuses_a_file_over_the_size_limit_without_reading_it(settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 2048

    message = refusal(Unreadable(b"x" * 5000), "term.csv")

    assert message == (
        "term.csv is 5 KB: an import takes files of up to 2 KB (at most 100,000 rows). "
        "Split it into smaller files and import them one by one."
    )


@pytest.mark.django_db
def test_the_command_path_checks_the_size_of_the_file_on_disk(settings, tmp_path):
    path = tmp_path / "students.csv"
    path.write_bytes(csv_bytes(STUDENTS) + b"901234569,Olim\r\n" * 200)
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024

    report = run_import("students", Path(path), filename=path.name, actor=None, dry_run=True)

    assert report.file_error is not None and report.file_error.startswith("students.csv is 3 KB: an import takes")


@pytest.mark.django_db
def test_the_worker_checks_the_size_of_a_queued_file(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    record = queue_import("students", ContentFile(csv_bytes(STUDENTS) * 100), actor=OperatorFactory(), filename="s.csv")
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024  # lowered after the upload: the worker checks again

    report = execute_import_record(record.pk)

    assert (
        report is not None
        and report.file_error is not None
        and "an import takes files of up to 1 KB" in (report.file_error)
    )
    record.refresh_from_db()
    assert record.status == ImportStatus.FAILED and "up to 1 KB" in record.message


# --- Workbooks: parts measured in the zip's directory -----------------------------------------------------


def test_a_shared_string_bomb_is_refused_before_openpyxl_unpacks_it(settings):
    """The issue's attack: one shared string of hundreds of MB packed into a few hundred KB."""
    settings.IMPORT_MAX_UPLOAD_BYTES = 2**20  # so the shared strings may unpack to 512 KiB
    bomb = raw_xlsx(
        [shared_row(1, 0), shared_row(2, 1)],
        shared_strings=["<si><t>phone</t></si><si><t>", *repeated("x", 8), "</t></si>"],
    )
    assert len(bomb) < 64 * 1024

    message = refusal(bomb, "bomb.xlsx")

    assert message == (
        "bomb.xlsx cannot be imported: its part xl/sharedStrings.xml unpacks to 8.0 MB, more than the 512 KB "
        "allowed. Save the sheet as CSV UTF-8 and upload that, or split it into smaller files."
    )


def test_a_sheet_that_would_take_too_long_to_read_is_refused(settings):
    """A sheet may unpack to 3x the upload limit (48 MiB by default: 100,000 rows are 18-40 MB)."""
    settings.IMPORT_MAX_UPLOAD_BYTES = 64 * 1024
    rows = (text_row(line, f"9012{line:05d}", "Aziz") for line in range(1, 5000))

    message = refusal(raw_xlsx(rows), "long.xlsx")

    assert message.startswith("long.xlsx cannot be imported: its part xl/worksheets/sheet1.xml unpacks to")
    assert "more than the 192 KB allowed" in message


def test_a_part_packed_like_a_bomb_is_refused_even_under_the_size_caps():
    sheet = raw_xlsx(repeated('<row r="9"><c r="A9"><v>1</v></c></row>', 4))

    message = refusal(sheet, "sheet.xlsx")

    assert message.startswith("sheet.xlsx cannot be imported: its part xl/worksheets/sheet1.xml is packed more")
    assert "which a spreadsheet never is" in message


def test_a_styles_part_bigger_than_any_real_one_is_refused():
    """openpyxl builds every <xf/> of styles.xml as objects: 1 MiB of them took 120 MB."""
    styles = b"<styleSheet>" + b"<xf/>" * (2**20 // 5) + b"</styleSheet>"
    workbook = raw_xlsx([text_row(1, "phone"), text_row(2, "901234567")], extra_parts={"xl/styles.xml": styles})

    assert "its part xl/styles.xml unpacks to 1.0 MB" in refusal(workbook, "styled.xlsx")


def test_a_workbook_broken_inside_its_sheet_is_one_clear_message():
    # With a <dimension>, openpyxl opens the sheet without reading it through: it breaks mid-way.
    broken = raw_xlsx(
        [text_row(1, "phone"), text_row(2, "901234567"), '<row r="3"><c r="A3" t="inlineStr"><is>'], dimension="A1:A3"
    )

    message = refusal(broken, "broken.xlsx")

    assert message.startswith("broken.xlsx could not be read as an Excel workbook after line 2 (")


# --- Rows: blank ones count, the sheet's claims are not trusted ------------------------------------------


def test_blank_csv_rows_count_towards_the_row_limit(settings):
    settings.IMPORT_MAX_ROWS = 3
    data = b"phone\r\n" + b"\r\n" * 5 + b"901234567\r\n"

    assert refusal(data, "blank.csv") == (
        "blank.csv has more than 3 rows (blank rows count too): split it into files of at most 3 rows "
        "(one import must finish inside the worker's time limit)."
    )


def test_a_workbook_row_far_down_counts_every_row_before_it(settings):
    settings.IMPORT_MAX_ROWS = 10
    far = raw_xlsx([text_row(1, "phone"), text_row(2, "901234567"), text_row(1_000_000, "901234568")])

    assert refusal(far, "far.xlsx").startswith("far.xlsx has more than 10 rows (blank rows count too)")


def test_a_forged_sheet_dimension_adds_no_rows_or_columns(settings):
    """<dimension ref="A1:XFD1048576"> would pad each row to 16,384 cells and add a million rows."""
    settings.IMPORT_MAX_ROWS = 100
    forged = raw_xlsx([text_row(1, "phone", "first_name"), text_row(2, "901234567", "Aziz")], dimension="A1:XFD1048576")

    table = read_table(forged, filename="forged.xlsx")

    assert table.headers == ["phone", "first_name"]
    assert list(table.rows) == [(2, {"phone": "901234567", "first_name": "Aziz"})]


# --- Cells: over the limit is a row error; past the CSV parser's limit, a file error --------------------


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_cell_over_the_limit_is_a_row_error_that_does_not_echo_it(fmt):
    header = ["student", "product_code", "starts_at"]
    rows = [header, ["9" * 1001, "IELTS-MOCK", "2030-01-01 10:00"]]
    data = csv_bytes(rows) if fmt == "csv" else raw_xlsx([text_row(i + 1, *row) for i, row in enumerate(rows)])

    report = run_import("bookings", data, filename=f"long.{fmt}", actor=None, dry_run=True)

    assert [(e.line, e.column, e.message) for e in report.errors] == [
        (2, "student", "student has more than 1,000 characters: a cell holds at most 1,000.")
    ]
    assert len(report.preview[0].summary) < 200


@pytest.mark.django_db
def test_a_csv_cell_past_the_csv_parsers_limit_is_a_clear_file_error():
    """1 MB in one cell made the csv module raise, and the page answer 500."""
    data = b"phone,first_name\r\n901234567," + b"x" * 2**20 + b"\r\n"

    report = run_import("students", data, filename="huge-cell.csv", actor=None, dry_run=True)

    assert report.file_error == (
        "huge-cell.csv, line 2: a cell is longer than 131,072 characters; a cell holds at most 1,000."
    )


@pytest.mark.django_db
def test_a_nul_character_deep_in_a_csv_is_a_row_error():
    """PostgreSQL cannot store it: the confirmed import would stop in the worker."""
    data = csv_bytes(STUDENTS + [["901234569", "Olim"]] * 400) + b"901234570,Ol\x00im\r\n"  # past the first 4 KB

    report = run_import("students", data, filename="nul.csv", actor=None, dry_run=True)

    assert [(e.line, e.column, e.message) for e in report.errors if e.line == 404] == [
        (404, "first_name", "first_name contains a NUL character, which cannot be stored: remove it.")
    ]


# --- Reading as a stream ------------------------------------------------------------------------------------


def test_a_byte_that_is_not_utf8_is_found_on_its_line_deep_in_the_file():
    good = csv_bytes(STUDENTS[:1] + [["90123", "Ойбек"]] * 10_000)

    message = refusal(good + "901234567,Ойбек\r\n".encode("cp1251"), "term.csv")

    assert message.startswith("term.csv is not UTF-8 text (line 10002)")


def test_a_character_split_across_read_chunks_is_read_whole():
    # 2-byte letters from the second line on: one of them straddles every 8 KB read boundary.
    data = b"phone,first_name\r\n" + ("1,Ойбек" * 5000 + "\r\n").encode() * 20

    rows = list(read_table(data, filename="wide.csv").rows)

    assert len(rows) == 20 and rows[-1][1]["first_name"].startswith("Ойбек")


def test_the_callers_file_stays_open_to_be_read_again():
    handle = io.BytesIO(csv_bytes(STUDENTS))

    first = list(read_table(handle, filename="s.csv").rows)
    again = list(read_table(handle, filename="s.csv").rows)

    assert first == again and len(first) == 2 and not handle.closed


@pytest.mark.django_db
def test_a_queued_import_reads_its_stored_file_as_a_stream(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    record = queue_import("students", ContentFile(csv_bytes(STUDENTS)), actor=OperatorFactory(), filename="s.csv")

    report = execute_import_record(record.pk)

    assert report is not None and report.ok and report.counts["new"] == 2
    assert ImportRecord.objects.get().status == ImportStatus.DONE
