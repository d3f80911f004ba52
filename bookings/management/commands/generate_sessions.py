"""``generate_sessions --days N [--tutor EMAIL|ID]``: lessons from availability, like the daily task."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bookings import services
from bookings.conf import conf
from bookings.models import Tutor


def positive_days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days (1 or more).")
    return days


class Command(BaseCommand):
    help = (
        "Create sessions from tutors' weekly availability for the next N days (each tutor's maximum advance "
        "caps it). Running it again creates nothing new."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--days",
            type=positive_days,
            default=None,
            help=f"How many days ahead, from today (default: {conf().generate_days}, SEATDESK_GENERATE_DAYS).",
        )
        parser.add_argument("--tutor", help="Only this tutor: their e-mail or their tutor id.")

    def handle(self, *args: Any, **options: Any) -> None:
        tutor = find_tutor(options["tutor"]) if options["tutor"] else None
        report = services.generate_sessions(tutor=tutor, days=options["days"])
        for result in report.tutors:
            self.stdout.write(result.summary())
            if options["verbosity"] > 1:
                for skip in result.skipped:
                    self.stdout.write(f"  skipped {skip.local_start:%a %Y-%m-%d %H:%M}: {skip.reason}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.created} sessions created, {report.skipped} slots skipped, {len(report.tutors)} tutor(s)."
            )
        )


def find_tutor(value: str) -> Tutor:
    tutors = Tutor.objects.select_related("user")
    try:
        if value.isdigit():
            return tutors.get(pk=int(value))
        return tutors.get(user__email__iexact=value)
    except Tutor.DoesNotExist:
        raise CommandError(f"No tutor with the id or e-mail {value!r}.") from None
    except Tutor.MultipleObjectsReturned:
        raise CommandError(f"Several tutors have the e-mail {value!r}: use the tutor id.") from None
