from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ImportKind(models.TextChoices):
    SESSIONS = "sessions", "Sessions"
    STUDENTS = "students", "Students"
    BOOKINGS = "bookings", "Bookings"
    RESULTS = "results", "Results"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


# How many row errors a record keeps; the rest are counted in ``invalid``.
MAX_RECORDED_ERRORS = 200


class ImportRecord(models.Model):
    """One real (not dry-run) import: who loaded which file when, and what came of it.

    Queued imports keep their file here until the django-q2 task has run them.
    """

    kind = models.CharField(max_length=10, choices=ImportKind.choices)
    filename = models.CharField(max_length=255)
    file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    status = models.CharField(max_length=8, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0, help_text="Data rows in the file.")
    new = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text=f"The first {MAX_RECORDED_ERRORS} row errors: line, column, message."
    )
    message = models.TextField(blank=True, help_text="A problem with the whole file, or what went wrong.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "import"
        verbose_name_plural = "import history"
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        local = timezone.localtime(self.created_at)
        return f"{self.get_kind_display()} import · {self.filename} · {local:%d %b %Y %H:%M}"

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)
