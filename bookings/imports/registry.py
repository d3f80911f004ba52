"""The importers by kind: what ``run_import(kind, ...)``, the admin and ``import_data`` accept."""

from __future__ import annotations

from typing import Any

from bookings.imports.base import Importer
from bookings.imports.bookings import BookingsImporter
from bookings.imports.results import ResultsImporter
from bookings.imports.sessions import SessionsImporter
from bookings.imports.students import StudentsImporter

KINDS: dict[str, type[Importer[Any]]] = {
    "sessions": SessionsImporter,
    "students": StudentsImporter,
    "bookings": BookingsImporter,
    "results": ResultsImporter,
}
