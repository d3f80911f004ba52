"""``setup_schedules``: create or correct the django-q2 schedules of the binding tasks; safe to run on every start."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from bookings.schedules import SCHEDULES, ensure_schedules


class Command(BaseCommand):
    help = "Create the django-q2 schedules of Seatdesk's tasks (one per name); running it again changes nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        report = ensure_schedules()
        kept = len(SCHEDULES) - len(report.created) - len(report.updated)
        parts = [f"{len(report.created)} created", f"{len(report.updated)} corrected", f"{kept} unchanged"]
        if report.duplicates_removed:
            parts.append(f"{report.duplicates_removed} duplicates removed")
        self.stdout.write(self.style.SUCCESS(f"Schedules: {', '.join(parts)}."))
        if options["verbosity"] > 1:
            for created in report.created:
                self.stdout.write(f"  created {created}")
            for updated in report.updated:
                self.stdout.write(f"  corrected {updated}")
