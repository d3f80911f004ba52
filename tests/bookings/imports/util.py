"""Helpers for the import tests: files built in memory, times as a person writes them."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from bookings.imports import ImportReport, run_import


def csv_bytes(rows: list[list[Any]], *, delimiter: str = ",", bom: bool = False) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8-sig" if bom else "utf-8")


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def local(moment: datetime) -> str:
    """How the file writes a start: the centre's wall clock, to the minute."""
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def future(days: int = 3, hour: int = 10) -> datetime:
    """A whole-minute start ``days`` ahead on the centre's clock."""
    day = timezone.localtime() + timedelta(days=days)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


def run(kind: str, rows: list[list[Any]], *, actor: Any = None, dry_run: bool = False, **kwargs: Any) -> ImportReport:
    return run_import(kind, csv_bytes(rows), filename=f"{kind}.csv", actor=actor, dry_run=dry_run, **kwargs)


def messages(report: ImportReport) -> list[str]:
    return [str(error) for error in report.errors]


# --- Workbooks built part by part, as an attacker (or an odd program) would write them ----------

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def raw_xlsx(
    sheet_rows: Iterable[str],
    *,
    shared_strings: Iterable[str] = (),
    dimension: str | None = None,
    extra_parts: dict[str, bytes] | None = None,
) -> bytes:
    """A minimal workbook whose sheet is ``sheet_rows`` (``<row>`` XML) and shared strings the
    ``<si>`` XML of ``shared_strings``; both are streamed into the zip, so a test can write a
    part of hundreds of megabytes that compresses to a few hundred kilobytes."""
    types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_TYPE}.sharedStrings+xml"/>'
        "</Types>"
    )
    root_rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_RELS}">'
        f'<Relationship Id="rId1" Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{_DOC}">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    workbook_rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_RELS}">'
        f'<Relationship Id="rId1" Type="{_DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_DOC}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", root_rels)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            part.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}">'.encode())
            for chunk in shared_strings:
                part.write(chunk.encode())
            part.write(b"</sst>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}">'.encode())
            if dimension:
                part.write(f'<dimension ref="{dimension}"/>'.encode())
            part.write(b"<sheetData>")
            for chunk in sheet_rows:
                part.write(chunk.encode())
            part.write(b"</sheetData></worksheet>")
        for name, content in (extra_parts or {}).items():
            archive.writestr(name, content)
    return buffer.getvalue()


def text_row(line: int, *texts: str) -> str:
    """A ``<row>`` of inline strings in columns A, B, ..."""
    cells = "".join(
        f'<c r="{chr(65 + i)}{line}" t="inlineStr"><is><t>{text}</t></is></c>' for i, text in enumerate(texts)
    )
    return f'<row r="{line}">{cells}</row>'


def shared_row(line: int, *indexes: int) -> str:
    """A ``<row>`` of shared strings (by index) in columns A, B, ..."""
    cells = "".join(f'<c r="{chr(65 + i)}{line}" t="s"><v>{index}</v></c>' for i, index in enumerate(indexes))
    return f'<row r="{line}">{cells}</row>'


def repeated(text: str, megabytes: int) -> Iterable[str]:
    """``text`` repeated to ``megabytes`` MiB, a MiB at a time."""
    chunk = text * (2**20 // len(text))
    for _ in range(megabytes):
        yield chunk
