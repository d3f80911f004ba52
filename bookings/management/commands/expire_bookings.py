"""``expire_bookings``: cancel unpaid bookings past their deadline now, as the every-minute task does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from bookings import services


class Command(BaseCommand):
    help = (
        "Cancel every pending booking whose payment deadline has passed (reason: expired), release its seat "
        "and e-mail the student. Running it again expires nothing more."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        expired = services.expire_due()
        self.stdout.write(self.style.SUCCESS(f"{expired} booking(s) expired."))
