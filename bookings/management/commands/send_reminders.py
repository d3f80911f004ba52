"""``send_reminders [--limit N] [--retry-failed]``: the reminder tasks' work, from the shell."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from bookings.services.reminders import DispatchReport, retry_failed_reminders, send_due_reminders


def positive_limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of reminders (1 or more).")
    return limit


class Command(BaseCommand):
    help = (
        "Send the reminders that are due (as the every-minute task does); with --retry-failed, also retry "
        "failed ones whose backoff has elapsed. Safe to run next to the worker: a reminder is sent once."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--limit", type=positive_limit, default=None, help="At most N reminders per step (default: all due)."
        )
        parser.add_argument(
            "--retry-failed", action="store_true", help="Also retry failed reminders whose backoff has elapsed."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        limit = options["limit"]
        due = send_due_reminders(limit=limit)
        self._write("Due reminders", due)
        if options["retry_failed"]:
            self._write("Retried reminders", retry_failed_reminders(limit=limit))

    def _write(self, title: str, report: DispatchReport) -> None:
        style = self.style.WARNING if report.failed else self.style.SUCCESS
        self.stdout.write(style(f"{title}: {report}."))
