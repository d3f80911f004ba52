"""Helpers for the import tests: files built in memory, times as a person writes them."""

from __future__ import annotations

import csv
import io
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
