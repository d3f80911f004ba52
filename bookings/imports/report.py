"""What an import found and did, row by row: the preview the admin shows and the command prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bookings.models import ImportRecord

Action = Literal["new", "updated", "skipped", "invalid"]
ACTIONS: tuple[Action, ...] = ("new", "updated", "skipped", "invalid")
# Rows kept for the preview table; the counts cover every row.
PREVIEW_LIMIT = 200


@dataclass(frozen=True)
class RowError:
    """A problem with one row (``line`` is the spreadsheet line, the header being line 1)."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass(frozen=True)
class RowOutcome:
    """One preview line: what the import does (or would do) with a row, in words."""

    line: int
    action: Action
    summary: str
    message: str = ""


@dataclass
class ImportReport:
    """The result of ``run_import``: counts, every row error, the first rows' outcomes.

    ``ok`` is False when the file itself was refused (``file_error``) or any row is invalid; then
    nothing was written, dry run or not.
    """

    kind: str
    filename: str
    dry_run: bool
    label: str = ""
    total: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    errors: list[RowError] = field(default_factory=list)
    preview: list[RowOutcome] = field(default_factory=list)
    file_error: str | None = None
    record: ImportRecord | None = None

    @property
    def ok(self) -> bool:
        return self.file_error is None and not self.counts["invalid"] and not self.errors

    @property
    def written(self) -> bool:
        """True when this run changed the database (a real run that succeeded)."""
        return self.ok and not self.dry_run

    @property
    def changes(self) -> int:
        return self.counts["new"] + self.counts["updated"]

    def reset(self) -> None:
        """Forget the rows' outcomes (not ``total``) before they are checked again."""
        self.counts = dict.fromkeys(ACTIONS, 0)
        self.errors = []
        self.preview = []
        self.file_error = None

    def add(self, line: int, action: Action, summary: str, message: str = "") -> None:
        self.counts[action] += 1
        if len(self.preview) < PREVIEW_LIMIT:
            self.preview.append(RowOutcome(line, action, summary, message))

    def add_error(self, error: RowError, summary: str = "") -> None:
        """Count the row as invalid and keep its error; a row with several errors counts once."""
        if not self.errors or self.errors[-1].line != error.line:
            self.add(error.line, "invalid", summary, error.message)
        self.errors.append(error)

    def counts_text(self) -> str:
        """ "120 new, 3 skipped" — the non-zero counts, or "no rows"."""
        parts = [f"{self.counts[name]} {name}" for name in ACTIONS if self.counts[name]]
        return ", ".join(parts) or "no rows"

    @property
    def summary(self) -> str:
        """One sentence for people: the notification, the command's last line, the admin message."""
        head = f"{self.label or self.kind.capitalize()} import of {self.filename}"
        if self.file_error:
            return f"{head} failed: {self.file_error}"
        text = f"{head}: {self.counts_text()}"
        if self.counts["invalid"]:
            return f"{text} — nothing was imported; fix the rows with errors and try again."
        if self.dry_run:
            return f"{text} (dry run: nothing written)."
        if self.total and not self.changes:
            return f"{text} — everything was already there, nothing changed."
        return f"{text}."
