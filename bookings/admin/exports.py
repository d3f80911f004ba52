"""Exports of the admin lists (django-import-export): the filtered list as CSV or XLSX.

Columns that the import of the same kind reads come first and carry the import's names and
formats (``product_code``, ``tutor``, ``starts_at`` as local "YYYY-MM-DD HH:MM" ...), so an export
edited in Excel loads back through the import. What follows is for reading: names, money, results.

Each resource joins or annotates everything it prints in ``filter_export``: an export of 50,000
bookings is one query (streamed in chunks), never one per row. The queryset comes from the admin's
changelist, so it holds the rows the person sees: filtered, searched, and a tutor's own only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from django.db.models import Model, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from import_export.admin import ExportMixin
from import_export.fields import Field
from import_export.formats.base_formats import CSV, XLSX
from import_export.resources import ModelDeclarativeMetaclass, ModelResource
from unfold.contrib.import_export.forms import SelectableFieldsExportForm

from backoffice.models import Student
from bookings.imports.parsing import spreadsheet_text
from bookings.models import Booking, Payment, Session, TestResult
from bookings.models.results import SUB_SCORES
from bookings.selectors import payment_state, with_paid_amount, with_student_list_stats


def local_minute(moment: datetime | None) -> str:
    """The centre's wall-clock time, as the imports read it."""
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else ""


def day(value: date | None) -> str:
    return f"{value:%Y-%m-%d}" if value else ""


def contact(user: Model | None) -> str:
    """How the imports find a person: phone first, else e-mail."""
    if user is None:
        return ""
    return user.phone or user.email


def tutor_contact(session: Session) -> str:
    """A session's tutor as the sessions and bookings imports take it: e-mail, else phone."""
    if session.tutor_id is None:
        return ""
    user = session.tutor.user
    return user.email or user.phone


# --- Column values: a function of the row, for the ``columns`` of a resource ----------------------

Value = Callable[[Any], Any]


def minute(path: str) -> Value:
    """The datetime at ``path`` (``"session.starts_at"``) as local "YYYY-MM-DD HH:MM"."""
    get = attrgetter(path)
    return lambda row: local_minute(get(row))


def band_at(path: str) -> Value:
    get = attrgetter(path)
    return lambda row: band(get(row))


def contact_at(path: str) -> Value:
    get = attrgetter(path)
    return lambda row: contact(get(row))


def full_name_at(path: str) -> Value:
    get = attrgetter(path)
    return lambda row: get(row).get_full_name()


def band(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.1"))


class ColumnsMetaclass(ModelDeclarativeMetaclass):
    """Turns a resource's ``columns`` (name -> value of a row, in order) into its read-only fields,
    its ``Meta.fields`` and its export order: each column is named once."""

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> type:
        columns: dict[str, Value] = attrs.get("columns", {})
        for column_name, value in columns.items():
            attrs[column_name] = Field(column_name=column_name, readonly=True, dehydrate_method=value)
        if columns:
            attrs["Meta"].fields = attrs["Meta"].export_order = tuple(columns)
        return super().__new__(mcs, name, bases, attrs)


class ExportResource(ModelResource, metaclass=ColumnsMetaclass):
    """A read-only resource: every column is a value computed from a joined row.

    Every text value of every column goes through ``spreadsheet_text`` here, in one place: names,
    e-mails, phones, codes and references alike, in CSV and XLSX (issue 12: contact columns had
    skipped the escaping names got, and an e-mail became a formula cell).
    """

    columns: dict[str, Value] = {}

    def export_field(self, field: Field, instance: Model, **kwargs: Any) -> Any:
        value = super().export_field(field, instance, **kwargs)
        return spreadsheet_text(value) if isinstance(value, str) else value

    def filter_export(self, queryset: QuerySet, **kwargs: Any) -> QuerySet:
        return self.with_columns(queryset)

    def with_columns(self, queryset: QuerySet) -> QuerySet:
        """``queryset`` with the joins and annotations the columns read."""
        return queryset


class SessionExportResource(ExportResource):
    columns = {
        "product_code": attrgetter("product.code"),
        "tutor": tutor_contact,
        "starts_at": minute("starts_at"),
        "capacity": attrgetter("capacity"),
        "room": attrgetter("room"),
        "ends_at": minute("ends_at"),
        "product": attrgetter("product.name"),
        "seats_taken": attrgetter("seats_taken"),
        "seats_left": attrgetter("seats_left"),
        "status": attrgetter("status"),
        "source": attrgetter("source"),
    }

    class Meta:
        model = Session
        name = "Sessions"

    def with_columns(self, queryset: QuerySet[Session]) -> QuerySet[Session]:
        return queryset.select_related("product", "tutor__user")


class StudentExportResource(ExportResource):
    columns = {
        "phone": attrgetter("phone"),
        "email": attrgetter("email"),
        "first_name": attrgetter("first_name"),
        "last_name": attrgetter("last_name"),
        "bookings": attrgetter("booking_count"),
        "upcoming": lambda student: student.upcoming + student.upcoming_pending,
        "average_overall": band_at("average_overall"),
        "best_overall": band_at("best_overall"),
        "is_active": attrgetter("is_active"),
        "date_joined": minute("date_joined"),
    }

    class Meta:
        model = Student
        name = "Students"

    def with_columns(self, queryset: QuerySet[Student]) -> QuerySet[Student]:
        # The students list annotates these already; an export from elsewhere gets them here.
        if "booking_count" not in queryset.query.annotations:
            queryset = with_student_list_stats(queryset)
        return queryset


def latest_result(field: str) -> Subquery:
    """One column of a booking's latest result (corrections update it in place; this is its row)."""
    latest = TestResult.objects.filter(booking=OuterRef("pk")).order_by("-test_date", "-created_at", "-id")
    return Subquery(latest.values(field)[:1])


RESULT_COLUMNS = ("overall", *SUB_SCORES)


class BookingExportResource(ExportResource):
    columns = {
        "student": contact_at("student"),
        "product_code": attrgetter("session.product.code"),
        "starts_at": minute("session.starts_at"),
        "tutor": lambda booking: tutor_contact(booking.session),
        "payment_method": attrgetter("payment_method"),
        "status": attrgetter("status"),
        "reference": attrgetter("reference"),
        "student_name": full_name_at("student"),
        "product": attrgetter("session.product.name"),
        "price": attrgetter("price"),
        "currency": attrgetter("currency"),
        "paid": attrgetter("paid_amount"),
        "payment_state": lambda booking: payment_state(booking, booking.paid_amount).label,
        # A deadline only means something while the booking waits for its money.
        "expires_at": lambda booking: local_minute(booking.expires_at) if booking.status == "pending" else "",
        "booked_at": minute("created_at"),
        "source": attrgetter("source"),
        **{name: band_at(f"result_{name}") for name in RESULT_COLUMNS},
        "test_date": lambda booking: day(booking.result_test_date),
    }

    class Meta:
        model = Booking
        name = "Bookings"

    def with_columns(self, queryset: QuerySet[Booking]) -> QuerySet[Booking]:
        queryset = queryset.select_related("student", "session__product", "session__tutor__user")
        if "paid_amount" not in queryset.query.annotations:  # the bookings list has it already
            queryset = with_paid_amount(queryset)
        return queryset.annotate(
            **{f"result_{name}": latest_result(name) for name in (*RESULT_COLUMNS, "test_date")},
        )


class PaymentExportResource(ExportResource):
    columns = {
        "booking": attrgetter("booking.reference"),
        "student": contact_at("booking.student"),
        "student_name": full_name_at("booking.student"),
        "provider": attrgetter("provider"),
        "amount": attrgetter("amount"),
        "currency": attrgetter("currency"),
        "status": attrgetter("status"),
        "provider_txn_id": lambda payment: payment.provider_txn_id or "",
        "created_at": minute("created_at"),
        "performed_at": minute("performed_at"),
    }

    class Meta:
        model = Payment
        name = "Payments"

    def with_columns(self, queryset: QuerySet[Payment]) -> QuerySet[Payment]:
        return queryset.select_related("booking__student")


class ResultExportResource(ExportResource):
    columns = {
        "booking": attrgetter("booking.reference"),
        **{name: band_at(name) for name in SUB_SCORES},
        "test_date": lambda result: day(result.test_date),
        "overall": band_at("overall"),
        "student": contact_at("booking.student"),
        "student_name": full_name_at("booking.student"),
        "product_code": attrgetter("booking.session.product.code"),
        "starts_at": minute("booking.session.starts_at"),
    }

    class Meta:
        model = TestResult
        name = "Results"

    def with_columns(self, queryset: QuerySet[TestResult]) -> QuerySet[TestResult]:
        return queryset.select_related("booking__student", "booking__session__product")


class SpreadsheetExportForm(SelectableFieldsExportForm):
    """unfold's export form (pick the columns), with CSV chosen until someone picks XLSX."""

    def __init__(self, formats: list, resources: list, **kwargs: Any) -> None:
        super().__init__(formats, resources, **kwargs)
        self.fields["format"].initial = "0"


class SpreadsheetExportMixin(ExportMixin):
    """The list's "Export" button: the rows shown (filters and search applied) as CSV or XLSX.

    Whoever may view the list may export it: ``has_view_permission`` of the admin decides, which
    also covers the Students page (a proxy whose permissions are the User model's).
    """

    export_form_class = SpreadsheetExportForm
    export_formats = [CSV, XLSX]  # the form's "format" values are indexes into this list
    # Excel opens a UTF-8 CSV as such only with a byte-order mark; our imports accept it.
    to_encoding = "utf-8-sig"
    export_resource: type[ExportResource]

    def get_export_resource_classes(self, request: HttpRequest) -> list[type[ExportResource]]:
        return [self.export_resource]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    export_template_name = "admin/exports/export.html"

    def init_request_context_data(self, request: HttpRequest, form: Any) -> dict[str, Any]:
        """The export page says what will be downloaded before it is: the list's filters and search
        in words, and how many rows."""
        context = super().init_request_context_data(request, form)
        changelist = self.get_changelist_instance(request)
        context["export_filters"] = applied_filters(changelist)
        context["export_search"] = changelist.query
        # The list's own count of what it shows, filters and search applied (a large unfiltered
        # table's is the planner's estimate: LargeTablePaginator), not a second COUNT.
        rows = changelist.result_count
        about = "about " if getattr(changelist.paginator, "estimated", False) else ""
        context["export_rows"] = f"{about}{rows:,} row{'' if rows == 1 else 's'}"
        changelist_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        context["export_list_url"] = f"{changelist_url}?{request.GET.urlencode()}"
        return context

    def get_data_for_export(self, request: HttpRequest, queryset: QuerySet, **kwargs: Any) -> Any:
        dataset = super().get_data_for_export(request, queryset, **kwargs)
        dataset.title = str(self.opts.verbose_name_plural).capitalize()  # the XLSX sheet's name
        return dataset

    def get_export_filename(self, request: HttpRequest, queryset: QuerySet, file_format: Any) -> str:
        stamp = f"{timezone.localtime():%Y-%m-%d-%H%M}"
        return f"{self.opts.verbose_name_plural.replace(' ', '-')}-{stamp}.{file_format.get_extension()}"


def applied_filters(changelist: Any) -> list[tuple[str, str]]:
    """``(filter title, what is chosen)`` for each filter the list has applied, as its sidebar says
    it ("Status", "Pending"); a date range as the days typed."""
    applied = []
    for spec in changelist.filter_specs:
        if not spec.has_output() or not any(p in changelist.params for p in spec.expected_parameters()):
            continue
        chosen = [str(choice["display"]) for choice in spec.choices(changelist) if choice.get("selected")]
        if not chosen or chosen == [str(_("All"))]:
            chosen = [str(changelist.params[p]) for p in spec.expected_parameters() if changelist.params.get(p)]
            chosen = [" – ".join(chosen)] if chosen else []
        if chosen:
            applied.append((str(spec.title).capitalize(), ", ".join(chosen)))
    return applied
