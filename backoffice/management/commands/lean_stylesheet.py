"""Write backoffice/static/backoffice/lean.css again from unfold's stylesheet (backoffice/lean.py).

Run it after upgrading django-unfold; tests/backoffice/test_lean.py fails until it has been run.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from backoffice.lean import STYLESHEET, stylesheet


class Command(BaseCommand):
    help = "Write the list pages' class aliases (backoffice/static/backoffice/lean.css) from unfold's stylesheet."

    def handle(self, *args: Any, **options: Any) -> None:
        text = stylesheet()
        STYLESHEET.write_text(text)
        rules = text.count("\n") - 1
        self.stdout.write(f"Wrote {STYLESHEET.name}: {rules} rules, {len(text.encode()):,} bytes.")
