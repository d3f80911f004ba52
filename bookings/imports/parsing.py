"""Reading a spreadsheet into rows of text: CSV (as Excel in the region saves it) and XLSX.

Everything a person can get wrong with the file as a whole -- the wrong kind of file, an empty
one, text that is not UTF-8 -- raises ``ImportFileError`` with one sentence to show them. Cells
come out as stripped text; what a value means is the importers' business.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import chain
from pathlib import Path
from typing import IO, Any

Row = dict[str, str]
Source = IO[bytes] | bytes | str | Path

CSV_EXTENSIONS = (".csv", ".txt")
XLSX_EXTENSIONS = (".xlsx", ".xlsm")
ZIP_MAGIC = b"PK\x03\x04"
DELIMITERS = (",", ";", "\t")


class ImportFileError(Exception):
    """The file as a whole cannot be imported; ``message`` says why, for a person."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass
class Table:
    """A header (normalised names, file order) and the data rows as ``(line, {column: text})``.

    ``line`` is the spreadsheet's row number, the header being line 1. Blank rows are skipped but
    counted, so the numbers match what the person sees in Excel. ``rows`` is an iterator: read once.
    """

    filename: str
    headers: list[str]
    rows: Iterator[tuple[int, Row]]


def header_key(name: object) -> str:
    """``" Product code "`` -> ``product_code``: headers match whatever their case and spacing."""
    return re.sub(r"[\s\-]+", "_", str(name or "").strip().lower())


def read_table(source: Source, *, filename: str) -> Table:
    """Open ``source`` (an open binary file, bytes, or a path as ``str``/``Path``) as a table.

    The format is chosen by ``filename``'s extension and checked against the content.
    """
    name = Path(filename).name or "The file"
    extension = Path(filename).suffix.lower()
    data = read_bytes(source)
    if extension == ".xls":
        raise ImportFileError(f"{name} is an old Excel (.xls) file: save it as .xlsx or as CSV UTF-8 and upload that.")
    if extension not in CSV_EXTENSIONS + XLSX_EXTENSIONS:
        raise ImportFileError(f"{name} is not a spreadsheet: upload a .csv or .xlsx file.")
    if not data.strip():
        raise ImportFileError(f"{name} is empty.")
    if extension in XLSX_EXTENSIONS or data.startswith(ZIP_MAGIC):
        headers, rows = _xlsx_rows(data, name)
    else:
        headers, rows = _csv_rows(data, name)
    return Table(filename=name, headers=headers, rows=rows)


def read_bytes(source: Source) -> bytes:
    """The whole file: an open binary file (read from the start), bytes, or a path as ``str``/``Path``."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, str | Path):
        return Path(source).read_bytes()
    if hasattr(source, "seek"):
        source.seek(0)
    data = source.read()
    return data.encode() if isinstance(data, str) else data


# --- CSV ---------------------------------------------------------------------------------------


def _csv_rows(data: bytes, name: str) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    if b"\x00" in data[:4096] or data.startswith(b"%PDF"):
        raise ImportFileError(f"{name} is not a spreadsheet: upload a .csv or .xlsx file.")
    try:
        # Checked whole, up front, so a bad byte is one clear message before any row is read.
        codecs.decode(data, "utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFileError(
            f"{name} is not UTF-8 text (line {line}): in Excel choose Save as → “CSV UTF-8 (comma delimited)” "
            "and upload that file."
        ) from None
    # utf-8-sig drops the byte-order mark Excel's "CSV UTF-8" puts first. Decoded as it is read,
    # so the text of a big file is never in memory twice.
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    first_line = data[:4096].decode("utf-8-sig", errors="ignore").lstrip("\r\n").split("\n", 1)[0]
    reader = csv.reader(stream, delimiter=_sniff_delimiter(first_line))
    numbered = enumerate(reader, start=1)
    for _line, cells in numbered:
        if any(cell.strip() for cell in cells):
            headers = _headers(cells, name)
            break
    else:
        raise ImportFileError(f"{name} is empty.")
    return headers, _data_rows(headers, ((line, cells) for line, cells in numbered), name)


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter the header uses most, outside quotes; Excel here writes ``;`` as often as ``,``."""
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# --- XLSX --------------------------------------------------------------------------------------


def _xlsx_rows(data: bytes, name: str) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    from openpyxl import load_workbook

    if not data.startswith(ZIP_MAGIC):
        raise ImportFileError(f"{name} is not an Excel workbook: upload a .xlsx or .csv file.")
    try:
        # read_only streams the sheet's XML instead of building every cell in memory.
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, IndexError) as exc:
        raise ImportFileError(f"{name} could not be read as an Excel workbook ({exc}).") from None
    except Exception as exc:  # openpyxl raises its own exception types for broken parts
        raise ImportFileError(f"{name} could not be read as an Excel workbook ({exc}).") from None
    numbered = enumerate((_cells(row) for row in sheet.iter_rows()), start=1)
    for _line, cells in numbered:
        if any(cells):
            headers = _headers(cells, name)
            break
    else:
        book.close()
        raise ImportFileError(f"{name} is empty.")

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            yield from numbered
        finally:
            book.close()

    return headers, _data_rows(headers, rows(), name)


def _cells(row: tuple[Any, ...]) -> list[str]:
    return [cell_text(cell.value, getattr(cell, "number_format", "") or "") for cell in row]


def cell_text(value: Any, number_format: str = "") -> str:
    """A cell as the text a person would type: dates ``YYYY-MM-DD HH:MM``, whole numbers without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.time() == time(0) and "h" not in number_format.lower():
            return value.strftime("%Y-%m-%d")  # a date-only cell (test_date)
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # A phone typed into a number cell comes back as 998901234567.0.
        return str(int(value)) if value.is_integer() else format(value, ".15g")
    return str(value).strip()


# --- Both --------------------------------------------------------------------------------------


def _headers(cells: list[str], name: str) -> list[str]:
    headers = [header_key(cell) for cell in cells]
    seen: set[str] = set()
    for header in headers:
        if header and header in seen:
            raise ImportFileError(f"{name} has the column “{header}” twice: keep one.")
        seen.add(header)
    return headers


def _data_rows(headers: list[str], numbered: Iterator[tuple[int, list[str]]], name: str) -> Iterator[tuple[int, Row]]:
    rows = _non_blank(headers, numbered)
    first = next(rows, None)
    if first is None:
        raise ImportFileError(f"{name} has a header row but no data rows.")
    return chain([first], rows)


def _non_blank(headers: list[str], numbered: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, Row]]:
    width = len(headers)
    for line, cells in numbered:
        values = [cell.strip() for cell in cells[:width]]
        if not any(values):
            continue
        yield line, {header: value for header, value in zip(headers, values, strict=False) if header}
