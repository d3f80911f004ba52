"""Spreadsheet imports in the admin: upload -> preview -> confirm, on django-import-export's pages.

django-import-export's own ``import_action`` reads the upload with tablib and hands a Dataset to
a ``Resource`` that saves row by row. Our import engine (``bookings.imports``) wants the raw file
instead -- it reads the BOM, sniffs Excel's semicolons and streams XLSX -- validates every row
with preloaded lookups and writes all-or-nothing in one transaction. So this mixin keeps the
library's URLs, buttons, forms (unfold's) and templates, and replaces the two steps in between:

- ``import_action`` (the upload) refuses a file over the size limit, or a workbook whose parts
  would unpack to too much, from its size and the zip's directory alone (``clean_import_file``);
  stores the file untouched in ``MEDIA_ROOT/imports/staged/``; and runs ``run_import(...,
  dry_run=True)``: the page shows the counts, the row errors (line, column, message, the first
  200, then how many more) and up to 200 rows of preview. Any invalid row hides "Confirm import".
  A file bigger than ``IMPORT_PREVIEW_INLINE_BYTES`` is checked by the worker instead, behind a
  page that refreshes itself until the same preview is there (``bookings.imports.previews``).
- ``process_import`` (the confirm) hands the staged file to ``queue_import``, which keeps it on an
  ``ImportRecord`` and queues the django-q2 task that imports it; the person lands on the record's
  page, and ``import.finished`` notifies them when it is done.

Staged files live in the media storage rather than a temp folder so that the confirm works
whichever web process receives it; a preview never confirmed is removed after a day.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any
from uuid import uuid4

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV, XLSX
from unfold.contrib.import_export.forms import ImportForm

from bookings.admin.exports import SpreadsheetExportMixin
from bookings.imports import KINDS, Importer, ImportFileError, queue_import, run_import, template_file
from bookings.imports.parsing import XLSX_EXTENSIONS, check_archive, check_size
from bookings.imports.previews import (
    STAGED_NAME,
    STAGING_DIR,
    PreviewNotQueued,
    checked_in_worker,
    discard,
    is_stale,
    queue_preview,
    read_state,
    staged_path,
)
from bookings.imports.report import ImportReport
from bookings.models import ImportRecord, ImportStatus

EXPIRED = "This check has expired or was already imported: upload the file again."
# A preview left unconfirmed this long is deleted (at the next upload).
STAGED_LIFETIME = timedelta(days=1)
# Rows of errors and preview the page shows; the counts cover every row.
SHOWN_ROWS = 200
TEMPLATE_FORMATS = ("csv", "xlsx")


class SpreadsheetImportForm(ImportForm):
    """unfold's import form without the format choice: the engine tells CSV from XLSX itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["format"]
        upload = self.fields["import_file"]
        upload.label = "Spreadsheet"
        upload.help_text = "A .csv (UTF-8, comma or semicolon) or .xlsx file with a header row."
        upload.widget.attrs.update({"accept": ".csv,.xlsx", "class": ""})

    def clean_import_file(self) -> Any:
        """Refuse a file over the size limit, or a workbook that would unpack to too much, before
        it is staged or read: Django has it in a temporary file, and only its size and the zip's
        directory are looked at."""
        upload = self.cleaned_data["import_file"]
        name = PurePosixPath(upload.name or "").name or "The file"
        try:
            check_size(upload.size, name)
            if PurePosixPath(name).suffix.lower() in XLSX_EXTENSIONS:
                check_archive(upload, name)
        except ImportFileError as exc:
            raise forms.ValidationError(exc.message) from None
        finally:
            upload.seek(0)
        return upload


class ImportConfirmForm(forms.Form):
    """What the preview page posts back: the staged file's name and the name the person gave it."""

    staged = forms.RegexField(regex=STAGED_NAME, widget=forms.HiddenInput)
    filename = forms.CharField(max_length=255, widget=forms.HiddenInput)


def stage_upload(upload: Any) -> str:
    """Keep the uploaded bytes as they are, until the person confirms; returns the staged name."""
    purge_stale_uploads()
    suffix = PurePosixPath(upload.name or "").suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""
    saved = default_storage.save(f"{STAGING_DIR}/{uuid4().hex}{suffix}", upload)  # streamed in chunks
    return PurePosixPath(saved).name


def purge_stale_uploads() -> None:
    try:
        _, names = default_storage.listdir(STAGING_DIR)
    except FileNotFoundError:
        return
    cutoff = timezone.now() - STAGED_LIFETIME
    for name in names:
        try:
            if default_storage.get_modified_time(f"{STAGING_DIR}/{name}") < cutoff:
                default_storage.delete(f"{STAGING_DIR}/{name}")
        except FileNotFoundError:
            pass  # another request removed it first


class SpreadsheetImportMixin(ImportMixin):
    """The import pages of one kind of the engine (``import_kind``: sessions, students ...)."""

    import_kind: str
    import_form_class = SpreadsheetImportForm
    import_template_name = "admin/imports/import.html"
    import_formats = [CSV, XLSX]

    @property
    def importer(self) -> type[Importer[Any]]:
        return KINDS[self.import_kind]

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(self.importer.permission)

    def get_import_resource_classes(self, request: HttpRequest) -> list:
        # The form wants a resource to offer (one: a hidden field); the engine does the importing.
        return [self.export_resource]

    def url_name(self, view: str) -> str:
        app_label, model_name = self.get_model_info()
        return f"{app_label}_{model_name}_{view}"

    def get_urls(self) -> list[URLPattern]:
        template = path(
            "import/template.<str:fmt>",
            self.admin_site.admin_view(self.import_template_view),
            name=self.url_name("import_template"),
        )
        return [template, *super().get_urls()]

    # --- The steps ----------------------------------------------------------------------------

    def import_action(self, request: HttpRequest, **kwargs: Any) -> TemplateResponse:
        """GET: the form and the kind's columns (or, with ``?preview=``, a queued check's progress or
        preview). POST: a dry run of the upload, shown as a preview -- at once for a small file; a
        big one is checked by the worker and the person is sent to its page (bookings.imports.previews)."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        if request.method == "GET" and "preview" in request.GET:
            return self.queued_preview_page(request, request.GET["preview"])
        form = self.create_import_form(request)
        report = confirm_form = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["import_file"]
            staged = stage_upload(upload)
            if checked_in_worker(upload, upload.size):
                try:
                    queue_preview(kind=self.import_kind, staged=staged, filename=upload.name, actor=request.user)
                except PreviewNotQueued as exc:
                    form.add_error("import_file", exc.message)
                    return self.import_page(request, form)
                url = reverse(f"{self.admin_site.name}:{self.url_name('import')}")
                return HttpResponseRedirect(f"{url}?preview={staged}")
            try:
                with default_storage.open(staged_path(staged), "rb") as source:
                    report = run_import(
                        self.import_kind, source, filename=upload.name, actor=request.user, dry_run=True
                    )
                if report.file_error:
                    form.add_error("import_file", report.file_error)
                    report = None
                elif report.ok and report.total:
                    confirm_form = ImportConfirmForm(initial={"staged": staged, "filename": upload.name})
            finally:
                if confirm_form is None:  # nothing to confirm, or the check failed: nothing to keep
                    default_storage.delete(staged_path(staged))
        return self.import_page(request, form, report, confirm_form)

    @method_decorator(require_POST)
    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponseRedirect:
        """The confirm: queue the previewed file for the worker and show its import record."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        import_url = reverse(f"{self.admin_site.name}:{self.url_name('import')}")
        form = ImportConfirmForm(request.POST)
        staged = staged_path(form.cleaned_data["staged"]) if form.is_valid() else None
        if staged is None or not default_storage.exists(staged):
            # A second click on "Confirm", or a preview older than a day.
            self.message_user(
                request,
                "This upload has already been imported or has expired: upload the file again.",
                messages.ERROR,
            )
            return HttpResponseRedirect(import_url)
        with default_storage.open(staged, "rb") as source:
            record = queue_import(
                self.import_kind, File(source, name=form.cleaned_data["filename"]), actor=request.user
            )
        discard(form.cleaned_data["staged"])  # the upload and, for a big file, its check
        record.refresh_from_db(fields=["status", "message"])
        if record.status == ImportStatus.FAILED:  # the task queue was unreachable (runner._enqueue)
            self.message_user(request, record.message, messages.ERROR)
        else:
            self.message_user(request, "Import queued: you will be notified when it finishes.", messages.SUCCESS)
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:bookings_importrecord_change", args=[record.pk]))

    def queued_preview_page(self, request: HttpRequest, staged: str) -> TemplateResponse:
        """A big upload's check by the worker: its progress (the page refreshes itself), then its preview."""
        form = self.create_import_form(request)
        state = read_state(staged) if STAGED_NAME.match(staged) else None
        if state is not None and (state["user"] != request.user.pk or state["kind"] != self.import_kind):
            raise Http404("No such check.")  # someone else's upload: its name was in their address bar
        if state is None:
            if STAGED_NAME.match(staged) and default_storage.exists(staged_path(staged)):
                return self.import_page(request, form, checking={"progress": "", "filename": ""})  # being rewritten
            return self.import_page(request, form, file_error=EXPIRED)
        if state["state"] != "done":
            if not is_stale(state):
                return self.import_page(request, form, checking=state)
            discard(staged)
            return self.import_page(
                request,
                form,
                file_error=f"The check of {state['filename']} did not finish (is the worker running?). Nothing "
                "was imported: upload the file again, or split it into smaller files.",
            )
        report = ImportReport.from_dict(state["report"])
        confirm_form = None
        if report.ok and report.total and default_storage.exists(staged_path(staged)):
            confirm_form = ImportConfirmForm(initial={"staged": staged, "filename": state["filename"]})
        elif report.ok or report.file_error:  # nothing to show but why: the file, or that it is gone
            discard(staged)
            return self.import_page(request, form, file_error=report.file_error or EXPIRED)
        return self.import_page(request, form, report, confirm_form)

    def import_template_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        """The kind's template: the header and one example row, as CSV or XLSX."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        if fmt not in TEMPLATE_FORMATS:
            raise Http404("Templates come as .csv or .xlsx.")
        content, content_type, filename = template_file(self.import_kind, fmt)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    # --- The page -----------------------------------------------------------------------------

    def import_page(
        self,
        request: HttpRequest,
        form: forms.Form,
        report: Any = None,
        confirm_form: ImportConfirmForm | None = None,
        checking: dict[str, Any] | None = None,
        file_error: str = "",
    ) -> TemplateResponse:
        importer = self.importer
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import {importer.label.lower()}",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "importer": importer,
            "kind": self.import_kind,
            "item_name": self.opts.verbose_name,
            "item_name_plural": self.opts.verbose_name_plural,
            "columns": importer.columns,
            "template_links": [
                (fmt.upper(), reverse(f"{self.admin_site.name}:{self.url_name('import_template')}", args=[fmt]))
                for fmt in TEMPLATE_FORMATS
            ],
            "report": report,
            "errors": report.errors[:SHOWN_ROWS] if report else [],
            "more_errors": report.error_count - len(report.errors[:SHOWN_ROWS]) if report else 0,
            "confirm_form": confirm_form,
            "checking": checking,
            "file_error": file_error,  # a queued check's verdict on the file (the form is not bound then)
        }
        if request.user.has_perm("bookings.view_importrecord"):
            context["recent"] = ImportRecord.objects.filter(kind=self.import_kind).select_related("created_by")[:5]
            context["history_url"] = reverse(f"{self.admin_site.name}:bookings_importrecord_changelist")
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)


class SpreadsheetImportExportMixin(SpreadsheetImportMixin, SpreadsheetExportMixin):
    """Both buttons on the list: "Import" (this kind's spreadsheet) and "Export" (the filtered list)."""

    import_export_change_list_template = "admin/import_export/change_list_import_export.html"
