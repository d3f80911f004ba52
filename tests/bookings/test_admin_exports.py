"""Exports of the admin lists: the filtered rows, in CSV and XLSX, with the import's column names
first (an export loads back through the import), without a query per row, and only for people
who may view the list -- a tutor's export holds their own rows."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from bookings import services
from bookings.imports import run_import
from bookings.models import Booking, Payment, Session, TestResult
from tests.factories import (
    LessonFactory,
    ManagerFactory,
    OperatorFactory,
    ProductFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    confirmed_booking,
)

pytestmark = pytest.mark.django_db

CSV, XLSX = "0", "1"  # the export form's format choices, in SpreadsheetExportMixin.export_formats
STUDENTS = "backoffice_student"


def starts(i: int = 0):
    day = timezone.localtime() + timedelta(days=4)
    return day.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(hours=i)


def export(client, admin_name: str, fmt: str = CSV, query: str = "") -> list[list[Any]]:
    """Ask for the export of ``admin_name``'s list (with ``query``'s filters); returns its rows, header first."""
    export_url = reverse(f"admin:{admin_name}_export") + (f"?{query}" if query else "")
    form = client.get(export_url).context["form"]
    data = {"format": fmt, "resource": "0"}
    data.update({name: "on" for name, field in form.fields.items() if getattr(field, "is_selectable_field", False)})
    response = client.post(export_url, data)
    assert response.status_code == 200, response.content[:500]
    assert "attachment" in response["Content-Disposition"]
    if fmt == CSV:
        assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with the BOM
        return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    return [["" if cell is None else cell for cell in row] for row in sheet.iter_rows(values_only=True)]


def as_dicts(rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def reimport(kind: str, rows: list[list[Any]]) -> dict[str, int]:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    report = run_import(kind, buffer.getvalue().encode(), filename="export.csv", actor=None, dry_run=True)
    assert report.ok, [str(error) for error in report.errors]
    return report.counts


@pytest.fixture
def manager_client(client):
    client.force_login(ManagerFactory())
    return client


# --- Columns and rows -----------------------------------------------------------------------------------


def test_a_sessions_export_holds_the_filtered_rows_with_the_import_columns_first(manager_client):
    mock = ProductFactory(code="IELTS-MOCK", name="IELTS mock")
    tutor = TutorFactory(user__email="aziza@example.com")
    wanted = SessionFactory(product=mock, tutor=tutor, starts_at=starts(), capacity=12, room="Hall A")
    SessionFactory(product=ProductFactory(code="OTHER"), starts_at=starts(1))

    rows = export(manager_client, "bookings_session", query=f"product__id__exact={mock.pk}")

    assert rows[0][:5] == ["product_code", "tutor", "starts_at", "capacity", "room"]
    assert as_dicts(rows) == [
        {
            "product_code": "IELTS-MOCK",
            "tutor": "aziza@example.com",
            "starts_at": f"{timezone.localtime(wanted.starts_at):%Y-%m-%d %H:%M}",
            "capacity": "12",
            "room": "Hall A",
            "ends_at": f"{timezone.localtime(wanted.ends_at):%Y-%m-%d %H:%M}",
            "product": "IELTS mock",
            "seats_taken": "0",
            "seats_left": "12",
            "status": "open",
            "source": "manual",
        }
    ]


def test_a_bookings_export_has_payment_and_result_columns_in_csv_and_xlsx(manager_client):
    session = SessionFactory(product=ProductFactory(code="IELTS-MOCK", price=Decimal("350000")), starts_at=starts())
    paid = services.book(session=session, student=StudentFactory(phone="+998901112233"), payment_method="click")
    services.record_payment(paid, provider="click", amount=paid.price, provider_txn_id="T-1")
    with time_machine.travel(session.starts_at + timedelta(hours=4)):
        services.record_result(paid, scores={"listening": 7, "reading": "6.5", "writing": 6, "speaking": "6.5"})
    unpaid = services.book(session=session, student=StudentFactory(email="x@example.com", phone=""))

    as_csv = {row["reference"]: row for row in as_dicts(export(manager_client, "bookings_booking"))}
    as_xlsx = {row["reference"]: row for row in as_dicts(export(manager_client, "bookings_booking", XLSX))}

    header = export(manager_client, "bookings_booking")[0]
    assert header[:6] == ["student", "product_code", "starts_at", "tutor", "payment_method", "status"]
    for rows in (as_csv, as_xlsx):
        done, open_ = rows[paid.reference], rows[unpaid.reference]
        assert (done["student"], done["payment_method"], done["status"]) == ("+998901112233", "click", "completed")
        assert done["payment_state"] == "paid" and Decimal(str(done["paid"])) == Decimal("350000")
        assert [Decimal(str(done[name])) for name in ("overall", "listening", "reading", "writing", "speaking")] == [
            Decimal("6.5"),
            Decimal("7.0"),
            Decimal("6.5"),
            Decimal("6.0"),
            Decimal("6.5"),
        ]
        assert open_["student"] == "x@example.com" and open_["payment_state"] == "unpaid"
        assert open_["overall"] == "" and Decimal(str(open_["paid"])) == 0
    assert isinstance(as_xlsx[paid.reference]["paid"], int | float)  # a number in Excel, not text


@pytest.mark.parametrize("fmt", [CSV, XLSX], ids=["csv", "xlsx"])
def test_a_rescheduled_booking_s_money_is_exported_once_on_the_booking_it_moved_to(manager_client, fmt):
    session = SessionFactory(product=ProductFactory(price=Decimal("350000")), starts_at=starts())
    booking = services.book(session=session, student=StudentFactory(), payment_method="click")
    services.record_payment(booking, provider="click", amount=booking.price, provider_txn_id="T-1")
    moved = services.reschedule(booking, to_session=SessionFactory(product=session.product, starts_at=starts(30)))

    rows = {row["reference"]: row for row in as_dicts(export(manager_client, "bookings_booking", fmt))}

    old, new = rows[booking.reference], rows[moved.reference]
    assert (old["status"], Decimal(str(old["paid"])), old["payment_state"]) == ("cancelled", 0, "unpaid")
    assert (new["status"], Decimal(str(new["paid"])), new["payment_state"]) == ("confirmed", 350000, "paid")
    assert sum(Decimal(str(row["paid"])) for row in rows.values()) == Decimal("350000")


def test_payments_and_results_export_their_lists(manager_client):
    booking = confirmed_booking(session=SessionFactory(starts_at=starts()))
    services.record_payment(booking, provider="payme", amount=Decimal("1000"), provider_txn_id="P-9")
    with time_machine.travel(booking.session.starts_at + timedelta(hours=4)):
        services.record_result(booking, scores={"listening": 8, "reading": 8, "writing": 7, "speaking": 7})

    payments = as_dicts(export(manager_client, "bookings_payment", query="provider__exact=payme"))
    results = as_dicts(export(manager_client, "bookings_testresult", XLSX))

    assert [(p["booking"], p["provider"], p["amount"], p["provider_txn_id"]) for p in payments] == [
        (booking.reference, "payme", "1000.00", "P-9")
    ]
    assert [(r["booking"], r["overall"], r["test_date"]) for r in results] == [
        (booking.reference, 7.5, f"{timezone.localtime(booking.session.starts_at):%Y-%m-%d}")
    ]


def test_free_text_that_excel_would_run_as_a_formula_is_exported_as_text(manager_client):
    StudentFactory(first_name="=HYPERLINK(1)", last_name="Karimov")

    rows = as_dicts(export(manager_client, STUDENTS))

    assert [row["first_name"] for row in rows] == ["'=HYPERLINK(1)"]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


@pytest.fixture
def hostile(db):
    """Every text a person can type that an export prints, starting as a spreadsheet formula would:
    a paid booking (it reimports) and a completed one with a result (for the results list)."""
    tutor = TutorFactory(user__email="-2+3@x.uz", user__phone="", user__first_name="-2+3")
    product = ProductFactory(code="=CODE", name="\r+cmd|' /C calc'!A0")  # not imported: XML reads \r as \n
    session = SessionFactory(product=product, tutor=tutor, starts_at=starts(), room="@SUM(1+1)")
    student = StudentFactory(email="=cmd|'/Ccalc'!A0@x.uz", phone="", first_name="=HYPERLINK(1)", last_name="-Kar")
    booking = services.book(session=session, student=student, payment_method="click")
    services.record_payment(booking, provider="click", amount=booking.price, provider_txn_id="-1+1")
    sat = services.book(session=session, student=StudentFactory(first_name="\tTab", last_name="+1 (555)"))
    services.confirm(sat)
    with time_machine.travel(session.starts_at + timedelta(hours=4)):
        services.record_result(sat, scores={"listening": 7, "reading": 7, "writing": 7, "speaking": 7})
    return booking


EXPORTS = ["bookings_session", "bookings_booking", "bookings_payment", "bookings_testresult", STUDENTS]


@pytest.mark.parametrize("admin_name", EXPORTS)
def test_no_text_cell_of_any_export_starts_like_a_formula(manager_client, hostile, admin_name):
    as_csv = export(manager_client, admin_name)
    workbook = xlsx_export(manager_client, admin_name)

    cells = [cell for row in as_csv[1:] for cell in row]
    assert any(cell.startswith("'") for cell in cells)  # the hostile rows are there
    risky = [cell for cell in cells if cell.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(cell)]
    assert risky == []
    formulas = [cell.coordinate for row in workbook.active.iter_rows() for cell in row if cell.data_type == "f"]
    assert formulas == []


def test_contact_columns_are_escaped_like_names_in_csv_and_xlsx(manager_client, hostile):
    """An e-mail is free text too: ``=cmd|'/Ccalc'!A0@x.uz`` was stored as a formula cell."""
    [row] = as_dicts(export(manager_client, "bookings_booking", query=f"q={hostile.reference}"))
    sheet = xlsx_export(manager_client, "bookings_booking", query=f"q={hostile.reference}").active
    header = [cell.value for cell in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("student") + 1)

    assert row["student"] == "'=cmd|'/Ccalc'!A0@x.uz"
    assert row["tutor"] == "'-2+3@x.uz"
    assert row["product_code"] == "'=CODE"
    assert (cell.value, cell.data_type) == ("'=cmd|'/Ccalc'!A0@x.uz", "s")


def test_a_control_character_in_a_name_does_not_break_the_xlsx_export(manager_client):
    StudentFactory(first_name="Ali\x01", last_name="Valiyev\x1f")

    sheet = xlsx_export(manager_client, STUDENTS).active

    assert [cell.value for cell in sheet[2]][2:4] == ["Ali", "Valiyev"]


def xlsx_export(client, admin_name: str, query: str = ""):
    """The XLSX export of ``admin_name``'s list, loaded in full (read-only cells carry no data type)."""
    export_url = reverse(f"admin:{admin_name}_export") + (f"?{query}" if query else "")
    form = client.get(export_url).context["form"]
    data = {"format": XLSX, "resource": "0"}
    data.update({name: "on" for name, field in form.fields.items() if getattr(field, "is_selectable_field", False)})
    response = client.post(export_url, data)
    assert response.status_code == 200
    return load_workbook(io.BytesIO(response.content))


# --- Round trip: an export loads back through the import, changing nothing ------------------------------


def test_an_export_reimports_as_skipped_rows(manager_client):
    tutor = TutorFactory(user__email="james@example.com")
    mock = ProductFactory(code="IELTS-MOCK")
    lesson = LessonFactory(code="GE-1")
    exam = SessionFactory(product=mock, starts_at=starts(), capacity=30, room="Hall A")
    SessionFactory(product=lesson, tutor=tutor, starts_at=starts(2), capacity=1, room="")
    for student in StudentFactory.create_batch(3):
        services.book(session=exam, student=student)

    assert reimport("sessions", export(manager_client, "bookings_session")) == only_skipped(2)
    assert reimport("students", export(manager_client, STUDENTS)) == only_skipped(3)
    assert reimport("bookings", export(manager_client, "bookings_booking")) == only_skipped(3)


@pytest.mark.parametrize("fmt", [CSV, XLSX], ids=["csv", "xlsx"])
def test_escaped_text_reimports_as_it_was(manager_client, hostile, fmt):
    """The import reads the apostrophe an export adds as the escape it is, in either format."""
    paid = "status__exact=confirmed"  # a completed booking is not something to import
    assert reimport("students", export(manager_client, STUDENTS, fmt)) == only_skipped(2)
    assert reimport("sessions", export(manager_client, "bookings_session", fmt)) == only_skipped(1)
    assert reimport("bookings", export(manager_client, "bookings_booking", fmt, paid)) == only_skipped(1)


def only_skipped(rows: int) -> dict[str, int]:
    return {"new": 0, "updated": 0, "skipped": rows, "invalid": 0}


# --- Queries --------------------------------------------------------------------------------------------------


def _booking_with_everything(i: int) -> None:
    """A booking of a new student in a new session (every other one a tutor's), paid, with a result."""
    session = SessionFactory(tutor=TutorFactory() if i % 2 else None, starts_at=starts(i))
    booking = confirmed_booking(session=session)
    services.record_payment(booking, provider="cash", amount=Decimal(1000))
    with time_machine.travel(session.starts_at + timedelta(hours=4)):
        services.record_result(booking, scores={"listening": 7, "reading": 7, "writing": 7, "speaking": 7})


BUILDERS = {
    "bookings_session": lambda i: SessionFactory(tutor=TutorFactory(), starts_at=starts(i)),
    "bookings_booking": _booking_with_everything,
    "bookings_payment": _booking_with_everything,
    "bookings_testresult": _booking_with_everything,
    STUDENTS: lambda i: services.book(session=SessionFactory(starts_at=starts(i)), student=StudentFactory()),
}


@pytest.mark.parametrize("admin_name", list(BUILDERS))
@pytest.mark.parametrize("fmt", [CSV, XLSX], ids=["csv", "xlsx"])
def test_an_export_of_30_rows_costs_the_queries_of_3(manager_client, admin_name, fmt, django_assert_max_num_queries):
    build = BUILDERS[admin_name]
    for i in range(3):
        build(i)
    with django_assert_max_num_queries(100) as with_3:
        assert len(export(manager_client, admin_name, fmt)) == 4

    for i in range(3, 30):
        build(i)
    with django_assert_max_num_queries(len(with_3)):
        assert len(export(manager_client, admin_name, fmt)) == 31


# --- Who may export what ----------------------------------------------------------------------------------


def test_a_tutor_exports_only_their_own_rows(client):
    mine, theirs = TutorFactory(), TutorFactory()
    my_session = SessionFactory(tutor=mine, starts_at=starts(), room="Mine")
    SessionFactory(tutor=theirs, starts_at=starts(1), room="Theirs")
    services.book(session=my_session, student=StudentFactory())
    services.book(session=Session.objects.get(room="Theirs"), student=StudentFactory())
    client.force_login(mine.user)

    sessions = as_dicts(export(client, "bookings_session"))
    bookings = as_dicts(export(client, "bookings_booking"))

    assert [row["room"] for row in sessions] == ["Mine"]
    assert [row["reference"] for row in bookings] == [my_session.bookings.get().reference]


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("operator", {"bookings_session", "bookings_booking", "bookings_payment", "bookings_testresult", STUDENTS}),
        ("tutor", {"bookings_session", "bookings_booking", "bookings_testresult"}),
    ],
)
def test_exporting_needs_the_view_permission_of_the_list(client, who, allowed):
    client.force_login(OperatorFactory() if who == "operator" else TutorFactory().user)

    for admin_name in BUILDERS:
        expected = 200 if admin_name in allowed else 403
        assert client.get(reverse(f"admin:{admin_name}_export")).status_code == expected, admin_name


def test_the_export_buttons_keep_the_lists_filters(manager_client):
    SessionFactory(starts_at=starts())

    html = manager_client.get(reverse("admin:bookings_session_changelist") + "?status__exact=open").content.decode()

    assert reverse("admin:bookings_session_export") + "?status__exact=open" in html


def test_every_export_admin_uses_its_own_resource():
    for model in (Session, Booking, Payment, TestResult):
        model_admin = admin.site.get_model_admin(model)
        assert model_admin.export_resource.Meta.model is model


def test_the_export_page_says_which_filters_apply_and_how_many_rows_come_before_the_download(manager_client):
    for hour in range(3):
        SessionFactory(starts_at=starts(hour), room="Room <b>7</b>")
    services.close_session(SessionFactory(starts_at=starts(5), room="Room 9"))
    url = reverse("admin:bookings_session_export") + "?status__exact=open&q=Room"

    page = manager_client.get(url)

    assert page.status_code == 200
    summary = page.content.decode()
    assert "3 rows will be exported" in summary
    assert page.context["export_filters"] == [("Status", "Open")]
    assert page.context["export_search"] == "Room"
    assert reverse("admin:bookings_session_changelist") + "?status__exact=open&amp;q=Room" in summary


def test_an_unfiltered_export_page_says_so(manager_client):
    SessionFactory(starts_at=starts())

    page = manager_client.get(reverse("admin:bookings_session_export"))

    assert "1 row will be exported" in page.content.decode()
    assert "No filters" in page.content.decode()


def test_the_xlsx_sheet_is_named_after_the_list(manager_client):
    SessionFactory(starts_at=starts())

    sheet = xlsx_export(manager_client, "bookings_session").active

    assert sheet.title == "Sessions"


def test_markup_searched_for_is_shown_as_text_on_the_export_page(manager_client):
    page = manager_client.get(reverse("admin:bookings_session_export") + "?q=%3Cscript%3Ealert(1)%3C/script%3E")

    assert page.status_code == 200
    assert "<script>alert(1)" not in page.content.decode()
    assert "“&lt;script&gt;alert(1)&lt;/script&gt;”" in page.content.decode()


@pytest.mark.postgres
def test_the_export_page_of_a_large_unfiltered_list_gives_the_estimate_as_such(manager_client, monkeypatch):
    from django.db import connection

    from bookings.admin.base import LargeTablePaginator

    session = SessionFactory(starts_at=starts(), capacity=10)
    for _ in range(3):
        services.book(session=session, student=StudentFactory())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE bookings_booking")
    monkeypatch.setattr(LargeTablePaginator, "ESTIMATE_FROM", 1)  # "large" from one row on

    unfiltered = manager_client.get(reverse("admin:bookings_booking_export")).content.decode()
    filtered = manager_client.get(reverse("admin:bookings_booking_export") + "?status__exact=pending").content.decode()

    assert "about 3 rows will be exported" in unfiltered
    assert "3 rows will be exported" in filtered and "about" not in filtered.split("will be exported")[0][-40:]
