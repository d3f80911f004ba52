"""Reading a spreadsheet into rows of text: CSV (as Excel in the region saves it) and XLSX.

Everything a person can get wrong with the file as a whole -- the wrong kind of file, an empty
one, text that is not UTF-8, a file too big -- raises ``ImportFileError`` with one sentence to
show them. Cells come out as stripped text; what a value means is the importers' business.

Uploads come from anyone with an import permission, so nothing here lets a file cost the server
more than its limits (issue 12): the size is checked before a byte is read
(``IMPORT_MAX_UPLOAD_BYTES``); a CSV is decoded as it is read, never whole; an XLSX's parts are
measured in the zip's directory before openpyxl unpacks any of them; every line counts towards
``IMPORT_MAX_ROWS``, blank or not; and a cell over ``IMPORT_MAX_CELL_CHARS`` is cut short here
(the runner makes it a row error), so no longer text travels further.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Collection, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import chain
from pathlib import Path
from typing import IO, Any

from django.conf import settings

Row = dict[str, str]
Source = IO[bytes] | bytes | str | Path

CSV_EXTENSIONS = (".csv", ".txt")
XLSX_EXTENSIONS = (".xlsx", ".xlsm")
ZIP_MAGIC = b"PK\x03\x04"
DELIMITERS = (",", ";", "\t")
HEAD = 4096  # bytes looked at to tell the kind of file and the CSV delimiter

# What an XLSX's parts may unpack to, as fractions of IMPORT_MAX_UPLOAD_BYTES (16 MiB by default).
# What bounds them is time as much as memory: openpyxl reads ~1,500-3,000 rows a second, and a
# 100,000-row workbook took 30-65 s to read on a 2-core machine (bench/uploads.py). A sheet is
# streamed row by row: 100,000 rows of bookings with e-mails unpack to 18-40 MB, so 3x (48 MiB).
# The shared strings (every distinct text of the workbook) are all read into memory, ~40 us each,
# before the first row: those of 100,000 students are ~4-6 MB, so 1/2 (8 MiB). Every other XML
# part (styles, workbook, relationships) is parsed whole into objects -- a 1 MiB styles.xml of
# empty <xf/> took 120 MB and 6 s -- and is a few KB in a real workbook, so 1 MiB. Real parts
# compress 2-16:1; a bomb's, 1,000:1.
SHEET_FRACTION = 3
SHARED_STRINGS_FRACTION = 0.5
MAX_PART_BYTES = 2**20
MAX_RATIO = 100
RATIO_FROM_BYTES = 2**20  # tiny parts may compress well; only big ones are held to MAX_RATIO
MAX_MEMBERS = 1000
# Columns read in an XLSX row. openpyxl pads every row to its last cell: one cell in column XFD
# would make each row 16,384 cells long.
MAX_COLUMNS = 256
MAX_HEADER_CHARS = 200

# A spreadsheet runs a cell starting with one of these as a formula: "=HYPERLINK(...)" in a name,
# "=cmd|'/Ccalc'!A0@x.uz" as an e-mail. Exports put an apostrophe first (Excel shows such a cell as
# plain text, without it) and imports take it off again, so an export loads back unchanged.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# "+998901234567" or "-5" is evaluated to the number it is: nothing to escape, and a phone stays a phone.
PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
# What XML 1.0 cannot hold: openpyxl refuses to write it, and the XLSX export would fail.
XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


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


def size_text(size: int) -> str:
    """``16.0 MB``, ``12 KB``, ``300 bytes``: a file's size as people read it (binary multiples)."""
    if size >= 2**20:
        return f"{size / 2**20:,.1f} MB"
    if size >= 1024:
        return f"{size / 1024:,.0f} KB"
    return f"{size:,} bytes"


def check_size(size: int, name: str) -> None:
    """Refuse a file over ``IMPORT_MAX_UPLOAD_BYTES``; called before any of it is read."""
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    if size > limit:
        raise ImportFileError(
            f"{name} is {size_text(size)}: an import takes files of up to {size_text(limit)} "
            f"(at most {settings.IMPORT_MAX_ROWS:,} rows). Split it into smaller files and import them one by one."
        )


def read_table(source: Source, *, filename: str, columns: Collection[str] | None = None) -> Table:
    """Open ``source`` (an open binary file, bytes, or a path as ``str``/``Path``) as a table.

    The format is chosen by ``filename``'s extension and checked against the content. Rows hold
    the ``columns`` given (all of the header's when None); ``headers`` always lists every column.
    A file or path opened here is closed when the rows have been read.
    """
    name = Path(filename).name or "The file"
    extension = Path(filename).suffix.lower()
    if extension == ".xls":
        raise ImportFileError(f"{name} is an old Excel (.xls) file: save it as .xlsx or as CSV UTF-8 and upload that.")
    if extension not in CSV_EXTENSIONS + XLSX_EXTENSIONS:
        raise ImportFileError(f"{name} is not a spreadsheet: upload a .csv or .xlsx file.")
    stream, owned = _open(source)
    try:
        check_size(_size(stream), name)
        head = stream.read(HEAD)
        stream.seek(0)
        if not head.strip() and len(head) < HEAD:
            raise ImportFileError(f"{name} is empty.")
        keep = None if columns is None else set(columns)
        if extension in XLSX_EXTENSIONS or head.startswith(ZIP_MAGIC):
            headers, rows = _xlsx_rows(stream, head, name, keep)
        else:
            headers, rows = _csv_rows(stream, head, name, keep)
    except BaseException:
        if owned:
            stream.close()
        raise
    return Table(filename=name, headers=headers, rows=_closing(rows, stream) if owned else rows)


def _open(source: Source) -> tuple[IO[bytes], bool]:
    """A seekable binary stream at its start, and whether it was opened here (and is ours to close)."""
    if isinstance(source, bytes):
        return io.BytesIO(source), True
    if isinstance(source, str | Path):
        return open(source, "rb"), True  # closed by read_table, or by its rows once read
    source.seek(0)
    return source, False


def _size(stream: IO[bytes]) -> int:
    size = getattr(stream, "size", None)  # Django's File and UploadedFile know it without seeking
    if isinstance(size, int):
        return size
    end = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    return end


def _closing(rows: Iterator[tuple[int, Row]], stream: IO[bytes]) -> Iterator[tuple[int, Row]]:
    try:
        yield from rows
    finally:
        stream.close()


def _too_many_rows(name: str) -> ImportFileError:
    limit = settings.IMPORT_MAX_ROWS
    return ImportFileError(
        f"{name} has more than {limit:,} rows (blank rows count too): split it into files of at most "
        f"{limit:,} rows (one import must finish inside the worker's time limit)."
    )


# --- CSV ---------------------------------------------------------------------------------------


def _csv_rows(
    stream: IO[bytes], head: bytes, name: str, keep: set[str] | None
) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    if b"\x00" in head or head.startswith(b"%PDF"):
        raise ImportFileError(f"{name} is not a spreadsheet: upload a .csv or .xlsx file.")
    first_line = head.decode("utf-8-sig", errors="ignore").lstrip("\r\n").split("\n", 1)[0]
    delimiter = _sniff_delimiter(first_line)
    numbered = _csv_lines(stream, delimiter, name)
    for _line, cells in numbered:
        if _has_text(cells):
            headers = _headers(cells, name)
            break
    else:
        raise ImportFileError(f"{name} is empty.")
    return headers, _data_rows(headers, numbered, name, keep)


def _csv_lines(stream: IO[bytes], delimiter: str, name: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)``, decoded as read: the text of the file is never in memory whole.

    utf-8-sig drops the byte-order mark Excel's "CSV UTF-8" puts first; newline="" lets the csv
    module see quoted line breaks as they are.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")  # type: ignore[arg-type]
    last_line = settings.IMPORT_MAX_ROWS + 1  # the header's and the data rows'
    line = 0
    try:
        for line, cells in enumerate(csv.reader(text, delimiter=delimiter), start=1):
            if line > last_line:
                raise _too_many_rows(name)
            yield line, cells
    except UnicodeDecodeError:
        raise ImportFileError(
            f"{name} is not UTF-8 text (line {_bad_byte_line(stream)}): in Excel choose Save as → "
            "“CSV UTF-8 (comma delimited)” and upload that file."
        ) from None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise ImportFileError(
                f"{name}, line {line + 1}: a cell is longer than {csv.field_size_limit():,} characters; "
                f"a cell holds at most {settings.IMPORT_MAX_CELL_CHARS:,}."
            ) from None
        raise ImportFileError(f"{name} could not be read as CSV at line {line + 1} ({exc}).") from None
    finally:
        # The stream is the caller's (or read_table's) to close, not the wrapper's.
        with suppress(ValueError):
            text.detach()


def _bad_byte_line(stream: IO[bytes]) -> int:
    """The line of the first byte that is not UTF-8 (only when there is one: the file is read again)."""
    stream.seek(0)
    line, decoder = 1, codecs.getincrementaldecoder("utf-8")()
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            # The decoder keeps at most 3 bytes of an unfinished character from the chunk before.
            return line + chunk[: max(exc.start - (len(exc.object) - len(chunk)), 0)].count(b"\n")
        line += chunk.count(b"\n")
    return line


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter the header uses most, outside quotes; Excel here writes ``;`` as often as ``,``."""
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# --- XLSX --------------------------------------------------------------------------------------


def _xlsx_rows(
    stream: IO[bytes], head: bytes, name: str, keep: set[str] | None
) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    from openpyxl import load_workbook

    if not head.startswith(ZIP_MAGIC):
        raise ImportFileError(f"{name} is not an Excel workbook: upload a .xlsx or .csv file.")
    check_archive(stream, name)
    stream.seek(0)
    try:
        # read_only streams the sheet's XML instead of building every cell in memory.
        book = load_workbook(stream, read_only=True, data_only=True, keep_links=False)
        sheet = book.worksheets[0]
        # A sheet's <dimension> is the writer's claim: a forged A1:XFD1048576 would pad every row
        # to 16,384 cells and add empty rows up to line 1,048,576. Read what is there instead.
        sheet.reset_dimensions()
    except Exception as exc:  # openpyxl raises its own and the zip and XML modules' errors for broken parts
        raise ImportFileError(f"{name} could not be read as an Excel workbook ({_short(exc)}).") from None
    try:
        found = _sheet_lines(sheet.iter_rows(max_col=MAX_COLUMNS), name, first=1)
        for found_line, cells in found:
            if _has_text(cells):
                # Read up to column MAX_COLUMNS, the header ends at its last named column.
                while not _has_text(cells[-1:]):
                    cells.pop()
                headers, line = _headers(cells, name), found_line
                break
        else:
            raise ImportFileError(f"{name} is empty.")
        found.close()
        width = max((i + 1 for i, header in enumerate(headers) if header), default=1)
        numbered = _sheet_lines(sheet.iter_rows(min_row=line + 1, max_col=width), name, first=line + 1)
        rows = _data_rows(headers, numbered, name, keep)
    except BaseException:
        book.close()
        raise

    def closing() -> Iterator[tuple[int, Row]]:
        try:
            yield from rows
        finally:
            book.close()

    return headers, closing()


def check_archive(stream: IO[bytes], name: str) -> None:
    """Refuse a workbook whose parts would unpack to more than an import can need.

    Only the zip's directory is read: ``file_size`` is what a part unpacks to, and Python's
    zipfile (which openpyxl uses) never returns more than it, so the figures cannot lie.
    """
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    try:
        members = zipfile.ZipFile(stream).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ImportFileError(f"{name} could not be read as an Excel workbook ({_short(exc)}).") from None
    if len(members) > MAX_MEMBERS:
        raise ImportFileError(f"{name} is not a workbook an import can read: it holds {len(members):,} parts.")
    for member in members:
        part = member.filename
        lower = part.lower()
        if lower.startswith("xl/worksheets/") and lower.endswith(".xml"):
            cap = int(SHEET_FRACTION * limit)
        elif lower.endswith("sharedstrings.xml"):
            cap = int(SHARED_STRINGS_FRACTION * limit)
        elif lower.endswith((".xml", ".rels", ".vml")):
            cap = MAX_PART_BYTES
        else:
            cap = limit  # pictures and the like: not read, but not unbounded either
        if member.file_size > cap:
            raise ImportFileError(
                f"{name} cannot be imported: its part {_short(part)} unpacks to {size_text(member.file_size)}, "
                f"more than the {size_text(cap)} allowed. Save the sheet as CSV UTF-8 and upload that, "
                "or split it into smaller files."
            )
        if member.file_size > RATIO_FROM_BYTES and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            raise ImportFileError(
                f"{name} cannot be imported: its part {_short(part)} is packed more than {MAX_RATIO}:1 "
                f"({size_text(member.compress_size)} unpacking to {size_text(member.file_size)}), "
                "which a spreadsheet never is."
            )


def _sheet_lines(rows: Iterator[tuple[Any, ...]], name: str, *, first: int) -> Iterator[tuple[int, list[str]]]:
    """openpyxl's rows as ``(line, texts)``; a part that breaks mid-way is one clear message."""
    last_line = settings.IMPORT_MAX_ROWS + 1
    line = first - 1
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:
            raise ImportFileError(
                f"{name} could not be read as an Excel workbook after line {line} ({_short(exc)})."
            ) from None
        line += 1
        if line > last_line:
            raise _too_many_rows(name)
        yield line, _cells(row)


def _cells(row: tuple[Any, ...]) -> list[str]:
    return [cell_text(cell.value, getattr(cell, "number_format", "") or "") for cell in row]


def cell_text(value: Any, number_format: str = "") -> str:
    """A cell as the text a person would type: dates ``YYYY-MM-DD HH:MM``, whole numbers without ``.0``.

    Text comes back as it is (``_data_rows`` strips it): a long cell is cut before it is copied.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
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
    return str(value)


def spreadsheet_text(value: str) -> str:
    """Text as an export writes it into a CSV or XLSX cell: never run as a formula, always writable."""
    value = XML_ILLEGAL.sub("", value)
    if value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return f"'{value}"
    return value


def unescape_formula(value: str) -> str:
    """A cell as an export wrote it, back to the text it escaped (``'=SUM(1)`` -> ``=SUM(1)``)."""
    return value[1:] if value[:1] == "'" and value[1:2] in FORMULA_STARTS else value


def _short(value: object, length: int = 200) -> str:
    text = str(value)
    return text if len(text) <= length else text[:length] + "…"


# --- Both --------------------------------------------------------------------------------------


def _has_text(cells: list[str]) -> bool:
    # Only a cell's start is looked at: the same huge shared string may fill thousands of rows.
    return any(cell[:MAX_HEADER_CHARS].strip() for cell in cells)


def _headers(cells: list[str], name: str) -> list[str]:
    headers = [header_key(cell[:MAX_HEADER_CHARS]) for cell in cells]
    seen: set[str] = set()
    for header in headers:
        if header and header in seen:
            raise ImportFileError(f"{name} has the column “{_short(header, 80)}” twice: keep one.")
        seen.add(header)
    return headers


def _data_rows(
    headers: list[str], numbered: Iterator[tuple[int, list[str]]], name: str, keep: set[str] | None
) -> Iterator[tuple[int, Row]]:
    rows = _non_blank(headers, numbered, keep)
    first = next(rows, None)
    if first is None:
        raise ImportFileError(f"{name} has a header row but no data rows.")
    return chain([first], rows)


def _non_blank(
    headers: list[str], numbered: Iterator[tuple[int, list[str]]], keep: set[str] | None
) -> Iterator[tuple[int, Row]]:
    width = len(headers)
    columns = [(i, header) for i, header in enumerate(headers) if header and (keep is None or header in keep)]
    longest = settings.IMPORT_MAX_CELL_CHARS
    for line, cells in numbered:
        # A cell over the limit is cut one character over, before anything copies it whole (the
        # same 16 MB shared string can fill every row of a workbook); the runner refuses the row.
        cut = [cell if len(cell) <= longest else cell[: longest + 1] for cell in cells[:width]]
        if not any(cell.strip() for cell in cut):
            continue
        row: Row = {}
        for i, header in columns:
            cell = cut[i] if i < len(cut) else ""
            row[header] = cell if len(cell) > longest else unescape_formula(cell.strip())
        yield line, row
