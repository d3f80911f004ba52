from __future__ import annotations

import io
from datetime import date, datetime

import pytest

from bookings.imports import ImportFileError, read_table, run_import
from bookings.models import ImportRecord, ImportStatus
from tests.bookings.imports.util import csv_bytes, xlsx_bytes


def rows_of(table) -> list[tuple[int, dict[str, str]]]:
    return list(table.rows)


def test_it_reads_excels_csv_utf8_with_bom_and_semicolons():
    data = '\ufeffPhone;First name;Last name\r\n+998 90 123 45 67;Ойбек;"Karimov; jr"\r\n'.encode()

    table = read_table(data, filename="students.csv")

    assert table.headers == ["phone", "first_name", "last_name"]
    assert rows_of(table) == [(2, {"phone": "+998 90 123 45 67", "first_name": "Ойбек", "last_name": "Karimov; jr"})]


def test_it_reads_comma_csv_without_bom_in_any_column_order_with_extra_columns():
    data = csv_bytes([[" Last_Name ", "notes", "PHONE"], ["Karimov", "paid, in cash", "901234567"]])

    table = read_table(io.BytesIO(data), filename="x.CSV")

    assert rows_of(table) == [(2, {"last_name": "Karimov", "notes": "paid, in cash", "phone": "901234567"})]


def test_it_skips_blank_lines_but_keeps_the_spreadsheets_line_numbers():
    data = b"phone,email\r\n\r\n901234567,\r\n , \r\n,a@b.uz\r\n"

    assert [line for line, _ in rows_of(read_table(data, filename="s.csv"))] == [3, 5]


def test_it_reads_a_path(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"phone\n901234567\n")

    assert rows_of(read_table(path, filename=path.name)) == [(2, {"phone": "901234567"})]


def test_it_reads_xlsx_cells_as_a_person_would_type_them():
    data = xlsx_bytes(
        [
            ["Phone", "starts_at", "test_date", "listening", "capacity", None],
            [998901234567, datetime(2026, 12, 5, 9, 30), date(2026, 12, 5), 6.5, 30.0, None],
            [None, None, None, None, None, None],
            ["+998 90 765 43 21", "2026-12-06 10:00", None, 7, None, None],
        ]
    )

    table = read_table(data, filename="term.xlsx")

    assert table.headers == ["phone", "starts_at", "test_date", "listening", "capacity"]  # no padding
    assert rows_of(table) == [
        (
            2,
            {
                "phone": "998901234567",
                "starts_at": "2026-12-05 09:30",
                "test_date": "2026-12-05",
                "listening": "6.5",
                "capacity": "30",
            },
        ),
        (
            4,
            {
                "phone": "+998 90 765 43 21",
                "starts_at": "2026-12-06 10:00",
                "test_date": "",
                "listening": "7",
                "capacity": "",
            },
        ),
    ]


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"%PDF-1.4 ...", "term.pdf", "term.pdf is not a spreadsheet: upload a .csv or .xlsx file."),
        (b"%PDF-1.4 ...", "term.csv", "term.csv is not a spreadsheet: upload a .csv or .xlsx file."),
        (b"\xd0\xcf\x11\xe0", "term.xls", "term.xls is an old Excel (.xls) file: save it as .xlsx or as CSV UTF-8"),
        (b"phone\n1\n", "term.xlsx", "term.xlsx is not an Excel workbook"),
        (b"PK\x03\x04garbage", "term.xlsx", "term.xlsx could not be read as an Excel workbook"),
        (b"", "term.csv", "term.csv is empty."),
        (b"\r\n \r\n", "term.csv", "term.csv is empty."),
        (b"phone,email\r\n", "term.csv", "term.csv has a header row but no data rows."),
        (b"phone,email\r\n,\r\n", "term.csv", "term.csv has a header row but no data rows."),
        (b"phone,Phone\r\n1,2\r\n", "term.csv", "term.csv has the column “phone” twice: keep one."),
        ("phone,name\n901234567,Ойбек\n".encode("cp1251"), "term.csv", "term.csv is not UTF-8 text (line 2)"),
    ],
)
def test_it_refuses_a_bad_file_with_one_clear_message(data, filename, message):
    with pytest.raises(ImportFileError) as caught:
        read_table(data, filename=filename)

    assert caught.value.message.startswith(message)


def test_an_empty_xlsx_is_empty():
    with pytest.raises(ImportFileError, match=r"empty\.xlsx is empty\."):
        read_table(xlsx_bytes([]), filename="empty.xlsx")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "header", "message"),
    [
        (
            "bookings",
            ["student", "product_code"],
            "The file has no column “starts_at”: the bookings import needs student, product_code, starts_at "
            "(found: student, product_code).",
        ),
        (
            "sessions",
            ["tutor", "starts_at"],
            "The file has no column “product_code”: the sessions import needs product_code, starts_at",
        ),
        (
            "students",
            ["first_name", "last_name"],
            "The file has no column “phone”: the students import needs phone or email, and first_name, last_name",
        ),
        ("results", ["listening", "reading"], "The file has no column “booking”: the results import needs booking"),
    ],
)
def test_a_missing_required_column_is_one_message_and_is_recorded(kind, header, message):
    report = run_import(kind, csv_bytes([header, ["x"] * len(header)]), filename="f.csv", actor=None, dry_run=False)

    assert report.file_error is not None and report.file_error.startswith(message)
    assert not report.ok and report.total == 0
    record = ImportRecord.objects.get()
    assert (record.status, record.message) == (ImportStatus.FAILED, report.file_error)


@pytest.mark.django_db
def test_a_bad_file_in_a_dry_run_is_reported_and_not_recorded():
    report = run_import("students", b"", filename="s.csv", actor=None, dry_run=True)

    assert report.file_error == "s.csv is empty."
    assert report.summary == "Students import of s.csv failed: s.csv is empty."
    assert not ImportRecord.objects.exists()


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="“payments” is not an import"):
        run_import("payments", b"a\n1\n", filename="p.csv", actor=None, dry_run=True)
