"""What an import found and did, row by row: the preview the admin shows and the command prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from bookings.models import ImportRecord

Action = Literal["new", "updated", "skipped", "invalid"]
ACTIONS: tuple[Action, ...] = ("new", "updated", "skipped", "invalid")
# Rows kept for the preview table; the counts cover every row.
PREVIEW_LIMIT = 200
# Row errors kept (the import page shows 200, a record keeps 200, the command prints these); the
# rest are counted. A file of 100,000 bad rows must not hold 100,000 messages in memory.
ERRORS_KEPT = 1000
# How much of a cell a message or the preview repeats, and the most a summary or message may be:
# a 4.7 KB workbook repeating one long cell in every row made a 12 MB preview page.
ECHO_CHARS = 80
TEXT_CHARS = 300


def clip(text: str, length: int = ECHO_CHARS) -> str:
    """``text``, or its first ``length`` characters and "…"."""
    return text if len(text) <= length else text[:length] + "…"


def quoted(value: str) -> str:
    """A cell's value as messages repeat it: “in quotes”, clipped."""
    return f"“{clip(value)}”"


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
    error_count: int = 0  # every row error, kept in ``errors`` or not
    preview: list[RowOutcome] = field(default_factory=list)
    file_error: str | None = None
    record: ImportRecord | None = None
    _last_error_line: int | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.file_error is None and not self.counts["invalid"] and not self.error_count

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
        self.error_count = 0
        self.preview = []
        self.file_error = None
        self._last_error_line = None

    def add(self, line: int, action: Action, summary: str, message: str = "") -> None:
        self.counts[action] += 1
        if len(self.preview) < PREVIEW_LIMIT:
            self.preview.append(RowOutcome(line, action, clip(summary, TEXT_CHARS), clip(message, TEXT_CHARS)))

    def add_error(self, error: RowError, summary: str = "") -> None:
        """Count the row as invalid and keep its error; a row with several errors counts once."""
        if error.line != self._last_error_line:
            self.add(error.line, "invalid", summary, error.message)
            self._last_error_line = error.line
        self.error_count += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(RowError(error.line, error.column, clip(error.message, TEXT_CHARS)))

    @property
    def more_errors(self) -> int:
        """Row errors counted but not kept in ``errors``."""
        return self.error_count - len(self.errors)

    def as_dict(self, *, errors: int = PREVIEW_LIMIT) -> dict[str, Any]:
        """What a preview page shows, as JSON: kept while the worker's check waits to be read."""
        return {
            "kind": self.kind,
            "filename": self.filename,
            "dry_run": self.dry_run,
            "label": self.label,
            "total": self.total,
            "counts": self.counts,
            "errors": [error.as_dict() for error in self.errors[:errors]],
            "error_count": self.error_count,
            "preview": [asdict(row) for row in self.preview],
            "file_error": self.file_error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportReport:
        return cls(
            kind=data["kind"],
            filename=data["filename"],
            dry_run=data["dry_run"],
            label=data["label"],
            total=data["total"],
            counts=data["counts"],
            errors=[RowError(**error) for error in data["errors"]],
            error_count=data["error_count"],
            preview=[RowOutcome(**row) for row in data["preview"]],
            file_error=data["file_error"],
        )

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
