"""Spreadsheet imports in the admin: upload -> preview -> confirm, on django-import-export's pages.

django-import-export's own ``import_action`` reads the upload with tablib and hands a Dataset to
a ``Resource`` that saves row by row. Our import engine (``bookings.imports``) wants the raw file
instead -- it reads the BOM, sniffs Excel's semicolons and streams XLSX -- validates every row
with preloaded lookups and writes all-or-nothing in one transaction. So this mixin keeps the
library's URLs, buttons, forms (unfold's) and templates, and replaces the two steps in between:

- ``import_action`` (the upload) stores the file untouched in ``MEDIA_ROOT/imports/staged/`` and
  runs ``run_import(..., dry_run=True)``: the page shows the counts, every row error (line, column,
  message, the first 200) and up to 200 rows of preview. Any invalid row hides "Confirm import".
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
from bookings.models import ImportRecord

STAGING_DIR = "imports/staged"
STAGED_NAME = re.compile(r"^[0-9a-f]{32}(\.[a-z0-9]{1,8})?$")
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


def staged_path(name: str) -> str:
    if not STAGED_NAME.match(name):  # the form checked it; never a path from the request
        raise ValueError(name)
    return f"{STAGING_DIR}/{name}"


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
        """GET: the form and the kind's columns. POST: a dry run of the upload, shown as a preview."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_import_form(request)
        report = confirm_form = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["import_file"]
            staged = stage_upload(upload)
            try:
                with default_storage.open(staged_path(staged), "rb") as source:
                    report = run_import(
                        self.import_kind, source, filename=upload.name, actor=request.user, dry_run=True
                    )
            except ImportFileError as exc:
                form.add_error("import_file", exc.message)
            if report is not None and report.file_error:
                form.add_error("import_file", report.file_error)
                report = None
            if report is not None and report.ok and report.total:
                confirm_form = ImportConfirmForm(initial={"staged": staged, "filename": upload.name})
            else:
                default_storage.delete(staged_path(staged))  # nothing to confirm: nothing to keep
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
        default_storage.delete(staged)
        self.message_user(request, "Import queued: you will be notified when it finishes.", messages.SUCCESS)
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:bookings_importrecord_change", args=[record.pk]))

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
            "more_errors": max(len(report.errors) - SHOWN_ROWS, 0) if report else 0,
            "confirm_form": confirm_form,
        }
        if request.user.has_perm("bookings.view_importrecord"):
            context["recent"] = ImportRecord.objects.filter(kind=self.import_kind).select_related("created_by")[:5]
            context["history_url"] = reverse(f"{self.admin_site.name}:bookings_importrecord_changelist")
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)


class SpreadsheetImportExportMixin(SpreadsheetImportMixin, SpreadsheetExportMixin):
    """Both buttons on the list: "Import" (this kind's spreadsheet) and "Export" (the filtered list)."""

    import_export_change_list_template = "admin/import_export/change_list_import_export.html"
