"""Spreadsheet imports of sessions, students, bookings and results (issue 6).

``run_import`` is the one entry point (admin preview and confirm, the django-q2 task, the
``import_data`` command); the importers check rows and ``bookings.services.imports`` writes them.
"""

from bookings.imports.base import Column, Importer
from bookings.imports.parsing import ImportFileError, Table, read_table
from bookings.imports.registry import KINDS
from bookings.imports.report import ImportReport, RowError, RowOutcome
from bookings.imports.runner import execute_import_record, importer_for, queue_import, run_import
from bookings.imports.template import template_file

__all__ = [
    "KINDS",
    "Column",
    "ImportFileError",
    "ImportReport",
    "Importer",
    "RowError",
    "RowOutcome",
    "Table",
    "execute_import_record",
    "importer_for",
    "queue_import",
    "read_table",
    "run_import",
    "template_file",
]
