"""Exports of the admin lists (django-import-export): the filtered list as CSV or XLSX.

Columns that the import of the same kind reads come first and carry the import's names and
formats (``product_code``, ``tutor``, ``starts_at`` as local "YYYY-MM-DD HH:MM" ...), so an export
edited in Excel loads back through the import. What follows is for reading: names, money, results.

Each resource joins or annotates everything it prints in ``filter_export``: an export of 50,000
bookings is one query (streamed in chunks), never one per row. The queryset comes from the admin's
changelist, so it holds the rows the person sees: filtered, searched, and a tutor's own only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Model, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from import_export.admin import ExportMixin
from import_export.fields import Field
from import_export.formats.base_formats import CSV, XLSX
from import_export.resources import ModelResource
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


def column(name: str, **kwargs: Any) -> Field:
    return Field(attribute=None, column_name=name, readonly=True, **kwargs)


class ExportResource(ModelResource):
    """A read-only resource: every column is a ``dehydrate_<name>`` method over a joined row.

    Every text value of every column goes through ``spreadsheet_text`` here, in one place: names,
    e-mails, phones, codes and references alike, in CSV and XLSX (issue 12: contact columns had
    skipped the escaping names got, and an e-mail became a formula cell).
    """

    def export_field(self, field: Field, instance: Model, **kwargs: Any) -> Any:
        value = super().export_field(field, instance, **kwargs)
        return spreadsheet_text(value) if isinstance(value, str) else value

    def filter_export(self, queryset: QuerySet, **kwargs: Any) -> QuerySet:
        return self.with_columns(queryset)

    def with_columns(self, queryset: QuerySet) -> QuerySet:
        """``queryset`` with the joins and annotations the columns read."""
        return queryset


class SessionExportResource(ExportResource):
    product_code = column("product_code")
    tutor = column("tutor")
    starts_at = column("starts_at")
    capacity = column("capacity")
    room = column("room")
    ends_at = column("ends_at")
    product = column("product")
    seats_taken = column("seats_taken")
    seats_left = column("seats_left")
    status = column("status")
    source = column("source")

    class Meta:
        model = Session
        fields = (
            "product_code",
            "tutor",
            "starts_at",
            "capacity",
            "room",
            "ends_at",
            "product",
            "seats_taken",
            "seats_left",
            "status",
            "source",
        )
        export_order = fields
        name = "Sessions"

    def with_columns(self, queryset: QuerySet[Session]) -> QuerySet[Session]:
        return queryset.select_related("product", "tutor__user")

    def dehydrate_product_code(self, session: Session) -> str:
        return session.product.code

    def dehydrate_tutor(self, session: Session) -> str:
        return tutor_contact(session)

    def dehydrate_starts_at(self, session: Session) -> str:
        return local_minute(session.starts_at)

    def dehydrate_capacity(self, session: Session) -> int:
        return session.capacity

    def dehydrate_room(self, session: Session) -> str:
        return session.room

    def dehydrate_ends_at(self, session: Session) -> str:
        return local_minute(session.ends_at)

    def dehydrate_product(self, session: Session) -> str:
        return session.product.name

    def dehydrate_seats_taken(self, session: Session) -> int:
        return session.seats_taken

    def dehydrate_seats_left(self, session: Session) -> int:
        return session.seats_left

    def dehydrate_status(self, session: Session) -> str:
        return session.status

    def dehydrate_source(self, session: Session) -> str:
        return session.source


class StudentExportResource(ExportResource):
    phone = column("phone")
    email = column("email")
    first_name = column("first_name")
    last_name = column("last_name")
    bookings = column("bookings")
    upcoming = column("upcoming")
    average_overall = column("average_overall")
    best_overall = column("best_overall")
    is_active = column("is_active")
    date_joined = column("date_joined")

    class Meta:
        model = Student
        fields = (
            "phone",
            "email",
            "first_name",
            "last_name",
            "bookings",
            "upcoming",
            "average_overall",
            "best_overall",
            "is_active",
            "date_joined",
        )
        export_order = fields
        name = "Students"

    def with_columns(self, queryset: QuerySet[Student]) -> QuerySet[Student]:
        # The students list annotates these already; an export from elsewhere gets them here.
        if "booking_count" not in queryset.query.annotations:
            queryset = with_student_list_stats(queryset)
        return queryset

    def dehydrate_phone(self, student: Student) -> str:
        return student.phone

    def dehydrate_email(self, student: Student) -> str:
        return student.email

    def dehydrate_first_name(self, student: Student) -> str:
        return student.first_name

    def dehydrate_last_name(self, student: Student) -> str:
        return student.last_name

    def dehydrate_bookings(self, student: Student) -> int:
        return student.booking_count

    def dehydrate_upcoming(self, student: Student) -> int:
        return student.upcoming + student.upcoming_pending

    def dehydrate_average_overall(self, student: Student) -> Decimal | None:
        return band(student.average_overall)

    def dehydrate_best_overall(self, student: Student) -> Decimal | None:
        return band(student.best_overall)

    def dehydrate_is_active(self, student: Student) -> bool:
        return student.is_active

    def dehydrate_date_joined(self, student: Student) -> str:
        return local_minute(student.date_joined)


def band(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.1"))


def latest_result(field: str) -> Subquery:
    """One column of a booking's latest result (corrections update it in place; this is its row)."""
    latest = TestResult.objects.filter(booking=OuterRef("pk")).order_by("-test_date", "-created_at", "-id")
    return Subquery(latest.values(field)[:1])


RESULT_COLUMNS = ("overall", *SUB_SCORES)


class BookingExportResource(ExportResource):
    student = column("student")
    product_code = column("product_code")
    starts_at = column("starts_at")
    tutor = column("tutor")
    payment_method = column("payment_method")
    status = column("status")
    reference = column("reference")
    student_name = column("student_name")
    product = column("product")
    price = column("price")
    currency = column("currency")
    paid = column("paid")
    payment_state = column("payment_state")
    expires_at = column("expires_at")
    booked_at = column("booked_at")
    source = column("source")
    overall = column("overall")
    listening = column("listening")
    reading = column("reading")
    writing = column("writing")
    speaking = column("speaking")
    test_date = column("test_date")

    class Meta:
        model = Booking
        fields = (
            "student",
            "product_code",
            "starts_at",
            "tutor",
            "payment_method",
            "status",
            "reference",
            "student_name",
            "product",
            "price",
            "currency",
            "paid",
            "payment_state",
            "expires_at",
            "booked_at",
            "source",
            *RESULT_COLUMNS,
            "test_date",
        )
        export_order = fields
        name = "Bookings"

    def with_columns(self, queryset: QuerySet[Booking]) -> QuerySet[Booking]:
        queryset = queryset.select_related("student", "session__product", "session__tutor__user")
        if "paid_amount" not in queryset.query.annotations:  # the bookings list has it already
            queryset = with_paid_amount(queryset)
        return queryset.annotate(
            **{f"result_{name}": latest_result(name) for name in (*RESULT_COLUMNS, "test_date")},
        )

    def dehydrate_student(self, booking: Booking) -> str:
        return contact(booking.student)

    def dehydrate_product_code(self, booking: Booking) -> str:
        return booking.session.product.code

    def dehydrate_starts_at(self, booking: Booking) -> str:
        return local_minute(booking.session.starts_at)

    def dehydrate_tutor(self, booking: Booking) -> str:
        return tutor_contact(booking.session)

    def dehydrate_payment_method(self, booking: Booking) -> str:
        return booking.payment_method

    def dehydrate_status(self, booking: Booking) -> str:
        return booking.status

    def dehydrate_reference(self, booking: Booking) -> str:
        return booking.reference

    def dehydrate_student_name(self, booking: Booking) -> str:
        return booking.student.get_full_name()

    def dehydrate_product(self, booking: Booking) -> str:
        return booking.session.product.name

    def dehydrate_price(self, booking: Booking) -> Decimal:
        return booking.price

    def dehydrate_currency(self, booking: Booking) -> str:
        return booking.currency

    def dehydrate_paid(self, booking: Booking) -> Decimal:
        return booking.paid_amount

    def dehydrate_payment_state(self, booking: Booking) -> str:
        return payment_state(booking, booking.paid_amount).label

    def dehydrate_expires_at(self, booking: Booking) -> str:
        return local_minute(booking.expires_at) if booking.status == "pending" else ""

    def dehydrate_booked_at(self, booking: Booking) -> str:
        return local_minute(booking.created_at)

    def dehydrate_source(self, booking: Booking) -> str:
        return booking.source

    def dehydrate_overall(self, booking: Booking) -> Decimal | None:
        return band(booking.result_overall)

    def dehydrate_listening(self, booking: Booking) -> Decimal | None:
        return band(booking.result_listening)

    def dehydrate_reading(self, booking: Booking) -> Decimal | None:
        return band(booking.result_reading)

    def dehydrate_writing(self, booking: Booking) -> Decimal | None:
        return band(booking.result_writing)

    def dehydrate_speaking(self, booking: Booking) -> Decimal | None:
        return band(booking.result_speaking)

    def dehydrate_test_date(self, booking: Booking) -> str:
        return day(booking.result_test_date)


class PaymentExportResource(ExportResource):
    booking = column("booking")
    student = column("student")
    student_name = column("student_name")
    provider = column("provider")
    amount = column("amount")
    currency = column("currency")
    status = column("status")
    provider_txn_id = column("provider_txn_id")
    created_at = column("created_at")
    performed_at = column("performed_at")

    class Meta:
        model = Payment
        fields = (
            "booking",
            "student",
            "student_name",
            "provider",
            "amount",
            "currency",
            "status",
            "provider_txn_id",
            "created_at",
            "performed_at",
        )
        export_order = fields
        name = "Payments"

    def with_columns(self, queryset: QuerySet[Payment]) -> QuerySet[Payment]:
        return queryset.select_related("booking__student")

    def dehydrate_booking(self, payment: Payment) -> str:
        return payment.booking.reference

    def dehydrate_student(self, payment: Payment) -> str:
        return contact(payment.booking.student)

    def dehydrate_student_name(self, payment: Payment) -> str:
        return payment.booking.student.get_full_name()

    def dehydrate_provider(self, payment: Payment) -> str:
        return payment.provider

    def dehydrate_amount(self, payment: Payment) -> Decimal:
        return payment.amount

    def dehydrate_currency(self, payment: Payment) -> str:
        return payment.currency

    def dehydrate_status(self, payment: Payment) -> str:
        return payment.status

    def dehydrate_provider_txn_id(self, payment: Payment) -> str:
        return payment.provider_txn_id or ""

    def dehydrate_created_at(self, payment: Payment) -> str:
        return local_minute(payment.created_at)

    def dehydrate_performed_at(self, payment: Payment) -> str:
        return local_minute(payment.performed_at)


class ResultExportResource(ExportResource):
    booking = column("booking")
    listening = column("listening")
    reading = column("reading")
    writing = column("writing")
    speaking = column("speaking")
    test_date = column("test_date")
    overall = column("overall")
    student = column("student")
    student_name = column("student_name")
    product_code = column("product_code")
    starts_at = column("starts_at")

    class Meta:
        model = TestResult
        fields = (
            "booking",
            *SUB_SCORES,
            "test_date",
            "overall",
            "student",
            "student_name",
            "product_code",
            "starts_at",
        )
        export_order = fields
        name = "Results"

    def with_columns(self, queryset: QuerySet[TestResult]) -> QuerySet[TestResult]:
        return queryset.select_related("booking__student", "booking__session__product")

    def dehydrate_booking(self, result: TestResult) -> str:
        return result.booking.reference

    def dehydrate_listening(self, result: TestResult) -> Decimal | None:
        return band(result.listening)

    def dehydrate_reading(self, result: TestResult) -> Decimal | None:
        return band(result.reading)

    def dehydrate_writing(self, result: TestResult) -> Decimal | None:
        return band(result.writing)

    def dehydrate_speaking(self, result: TestResult) -> Decimal | None:
        return band(result.speaking)

    def dehydrate_test_date(self, result: TestResult) -> str:
        return day(result.test_date)

    def dehydrate_overall(self, result: TestResult) -> Decimal | None:
        return band(result.overall)

    def dehydrate_student(self, result: TestResult) -> str:
        return contact(result.booking.student)

    def dehydrate_student_name(self, result: TestResult) -> str:
        return result.booking.student.get_full_name()

    def dehydrate_product_code(self, result: TestResult) -> str:
        return result.booking.session.product.code

    def dehydrate_starts_at(self, result: TestResult) -> str:
        return local_minute(result.booking.session.starts_at)


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

    def get_export_filename(self, request: HttpRequest, queryset: QuerySet, file_format: Any) -> str:
        stamp = f"{timezone.localtime():%Y-%m-%d-%H%M}"
        return f"{self.opts.verbose_name_plural.replace(' ', '-')}-{stamp}.{file_format.get_extension()}"
