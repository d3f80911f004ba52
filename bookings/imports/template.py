"""Downloadable templates: the header of a kind's import and one example row, as CSV or XLSX."""

from __future__ import annotations

import csv
import io

from bookings.imports.registry import KINDS

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def template_file(kind: str, fmt: str = "csv") -> tuple[bytes, str, str]:
    """``(content, content type, file name)`` of the template for ``kind`` in ``fmt`` ("csv" or "xlsx")."""
    if kind not in KINDS:
        raise ValueError(f"“{kind}” is not an import: use one of {', '.join(KINDS)}.")
    columns = KINDS[kind].columns
    header = [column.name for column in columns]
    example = [column.example for column in columns]
    filename = f"seatdesk-{kind}-template.{fmt}"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerow(example)
        # The byte-order mark makes Excel open the file as UTF-8 (names in Cyrillic or Uzbek Latin).
        return buffer.getvalue().encode("utf-8-sig"), CSV_TYPE, filename
    if fmt == "xlsx":
        from openpyxl import Workbook
        from openpyxl.styles import Font

        book = Workbook()
        sheet = book.active
        sheet.title = kind.capitalize()
        sheet.append(header)
        # Text cells: Excel must not turn a phone into 9.98901E+11 or a start time into a number.
        sheet.append(example)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for index, column in enumerate(columns, start=1):
            sheet.cell(row=2, column=index).number_format = "@"
            sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = max(len(column.name) + 4, 18)
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue(), XLSX_TYPE, filename
    raise ValueError(f"“{fmt}” is not a template format: use csv or xlsx.")
