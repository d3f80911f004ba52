"""``import_data <sessions|students|bookings|results> FILE [--dry-run] [--as USERNAME]``.

The admin's import from the shell: same importers, same rules, same all-or-nothing. Row errors go
to stderr as ``line N: message`` and the exit code is 1 when any row (or the file) is refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from bookings.imports import KINDS, run_import


class Command(BaseCommand):
    help = (
        "Import sessions, students, bookings or results from a CSV (UTF-8, comma or semicolon) or XLSX file. "
        "Every row is checked; if any is invalid nothing is written and the errors are listed on stderr."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("kind", choices=sorted(KINDS), help="What the file holds.")
        parser.add_argument("file", type=Path, help="The .csv or .xlsx file.")
        parser.add_argument("--dry-run", action="store_true", help="Check every row and report; write nothing.")
        parser.add_argument(
            "--as", dest="username", default=None, help="Username recorded as the importer (default: nobody)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path} does not exist or is not a file.")
        actor = None
        if options["username"]:
            try:
                actor = get_user_model().objects.get(username=options["username"])
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user with username “{options['username']}”.") from None

        report = run_import(options["kind"], path, filename=path.name, actor=actor, dry_run=options["dry_run"])

        if report.file_error:
            raise CommandError(report.file_error)
        counts = ", ".join(f"{name}: {count}" for name, count in report.counts.items())
        self.stdout.write(f"{report.total} rows — {counts}")
        for error in report.errors:
            self.stderr.write(f"line {error.line}: {error.message}")
        if report.more_errors:  # the report keeps the first ERRORS_KEPT of them
            self.stderr.write(f"… and {report.more_errors:,} more row errors.")
        if not report.ok:
            raise CommandError(report.summary)
        self.stdout.write(self.style.SUCCESS(report.summary))
