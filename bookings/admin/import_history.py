"""Import history: every real import (who loaded which file, when, and what came of it). Read-only.

Records are written by the import engine only (``queue_import`` and its django-q2 task); this page
shows them, the row errors of a failed one, and the file as it was uploaded -- sent through the
admin, with its permission check, since media files are not served publicly.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from unfold.decorators import display

from backoffice.admin_lists import ModelAdmin
from bookings.admin.base import badge
from bookings.models import ImportRecord, ImportStatus

IMPORT_STATUS_COLOURS = {
    ImportStatus.QUEUED: "info",
    ImportStatus.RUNNING: "warning",
    ImportStatus.DONE: "success",
    ImportStatus.FAILED: "danger",
}


@admin.register(ImportRecord)
class ImportRecordAdmin(ModelAdmin):
    change_form_template = "admin/bookings/importrecord/change_form.html"
    list_display = ("created_at", "kind", "filename", "status_badge", "counts", "created_by", "finished_at")
    list_display_links = ("created_at", "filename")
    list_select_related = ("created_by",)
    list_filter = ("status", "kind")
    search_fields = ("filename",)
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    readonly_fields = (
        "kind",
        "file_link",
        "status_label",
        "rows",
        "message",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )

    def get_fieldsets(self, request: HttpRequest, obj: ImportRecord | None = None) -> list:
        summary = ["kind", "file_link", "status_label", "rows"]
        if obj is not None and obj.message:  # a refused file, or what stopped the worker
            summary.append("message")
        return [
            (None, {"fields": summary}),
            ("Record", {"fields": ["created_by", "created_at", "started_at", "finished_at"]}),
        ]

    def get_urls(self) -> list[URLPattern]:
        download = path(
            "<path:object_id>/file/",
            self.admin_site.admin_view(self.file_view),
            name="bookings_importrecord_file",
        )
        return [download, *super().get_urls()]

    # Written by the import engine only.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ImportRecord | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ImportRecord | None = None) -> bool:
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ):
        record = self.get_object(request, unquote(object_id))
        extra_context = {**(extra_context or {})}
        if record is not None:
            extra_context["record"] = record
            extra_context["errors_table"] = {
                "headers": ["Line", "Column", "Message"],
                "rows": [[e.get("line", ""), e.get("column") or "—", e.get("message", "")] for e in record.errors],
            }
            shown, invalid = len(record.errors), record.invalid
            extra_context["errors_title"] = (
                f"Rows with errors (the first {shown} of {invalid})" if invalid > shown else "Rows with errors"
            )
            # Until the worker finishes, the page reloads itself; the notification comes too.
            extra_context["refresh_seconds"] = 0 if record.is_finished else 3
        return super().change_view(request, object_id, form_url, extra_context)

    def file_view(self, request: HttpRequest, object_id: str) -> FileResponse:
        """The uploaded file as it was, for whoever may see the record."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        record = self.get_object(request, unquote(object_id))
        if record is None or not record.file:
            raise Http404("No file kept for this import.")
        try:
            handle = record.file.open("rb")
        except FileNotFoundError:
            raise Http404("The file of this import is no longer stored.") from None
        return FileResponse(handle, as_attachment=True, filename=record.filename)

    @display(description="Status", ordering="status")
    def status_badge(self, obj: ImportRecord) -> str:
        return badge(obj.get_status_display(), IMPORT_STATUS_COLOURS.get(obj.status))

    @display(description="Status")
    def status_label(self, obj: ImportRecord) -> str:
        return self.status_badge(obj)

    @display(description="Rows")
    def rows(self, obj: ImportRecord) -> str:
        if obj.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            return "Not checked yet: the worker has not finished."
        return f"{obj.total} in the file: {self.counts(obj)}"

    @display(description="Rows")
    def counts(self, obj: ImportRecord) -> str:
        if obj.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            return "–"
        text = f"{obj.new} new · {obj.updated} updated · {obj.skipped} skipped"
        return f"{text} · {obj.invalid} invalid" if obj.invalid else text

    @display(description="File")
    def file_link(self, obj: ImportRecord) -> str:
        if not obj.file:
            return obj.filename
        url = reverse(f"{self.admin_site.name}:bookings_importrecord_file", args=[obj.pk])
        return format_html('<a class="text-primary-600" href="{}" download>{}</a>', url, obj.filename)
