"""The back office opens for the people who run the centre, writes only through services, and
every list page costs the same number of queries however many rows it shows."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.models import (
    Availability,
    Booking,
    BookingEvent,
    BookingStatus,
    CancelReason,
    DateException,
    FeedbackRequest,
    PaymentLog,
    Session,
    TestResult,
)
from tests.factories import (
    ManagerFactory,
    OperatorFactory,
    ProductFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
)

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
# Written only by services and tasks: these have no add form.
NO_ADD_PAGE = {
    "bookings.BookingEvent",
    "bookings.ImportRecord",
    "bookings.PaymentLog",
    "bookings.Reminder",
    "realtime.Notification",
    "django_q.Failure",
    "django_q.OrmQ",
    "django_q.Success",
    # Login records, written by django-axes.
    "axes.AccessAttempt",
    "axes.AccessFailureLog",
    "axes.AccessLog",
}
# A schedule names code the worker runs: only a superuser adds one (tests/backoffice/test_task_schedules.py).
SUPERUSER_ADD_ONLY = {"django_q.Schedule"}


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def starts_in(days: int = 3, hours: int = 0):
    return timezone.now().replace(microsecond=0) + timedelta(days=days, hours=hours)


@pytest.fixture
def manager(db):
    return ManagerFactory()


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def demo(db):
    """A little of everything, so that every list and change page has a row to render."""
    tutor = TutorFactory()
    Availability.objects.create(
        tutor=tutor, product=ProductFactory(code="GE-LESSON"), weekday=0, start_time=time(9), end_time=time(17)
    )
    DateException.objects.create(tutor=tutor, date=timezone.localdate() + timedelta(days=10))
    exam = SessionFactory(capacity=30)
    lesson = SessionFactory(product=ProductFactory(code="LESSON", scoring="none"), tutor=tutor, capacity=1)
    operator = OperatorFactory()
    pending = services.book(session=exam, student=StudentFactory(), actor=operator)
    paid = services.book(session=exam, student=StudentFactory(), actor=operator, payment_method="click")
    payment = services.record_payment(paid, provider="click", amount=paid.price, actor=operator, provider_txn_id="T-1")
    PaymentLog.objects.create(
        provider="click",
        action="complete",
        payment=payment,
        booking_reference=paid.reference,
        remote_addr="127.0.0.1",
        request={"click_trans_id": "T-1", "sign_string": "[redacted]"},
        response={"error": 0, "error_note": "Success"},
    )
    with time_machine.travel(exam.starts_at + timedelta(hours=4)):  # results come after the sitting
        result = services.record_result(
            paid, scores={"listening": 7, "reading": "6.5", "writing": 6, "speaking": "6.5"}, actor=operator
        )
    tutored = services.book(session=lesson, student=StudentFactory(), actor=operator)
    FeedbackRequest.objects.create(student=tutored.student, tutor=tutor, booking=tutored, submission="An essay.")
    return {"tutor": tutor, "exam": exam, "lesson": lesson, "pending": pending, "paid": paid, "result": result}


# --- Every page opens ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin_client", "manager_client"])
@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=[m._meta.label for m, _ in REGISTERED])
def test_it_opens_every_list_add_and_change_page(request, who, model, model_admin, demo):
    client = request.getfixturevalue(who)

    changelist = client.get(admin_url(model, "changelist"))
    assert changelist.status_code == 200

    refused = NO_ADD_PAGE | (SUPERUSER_ADD_ONLY if who == "manager_client" else set())
    expected_add = 403 if model._meta.label in refused else 200
    assert client.get(admin_url(model, "add")).status_code == expected_add

    obj = model_admin.get_queryset(changelist.wsgi_request).first()
    if obj is not None:
        assert client.get(admin_url(model, "change", obj.pk)).status_code == 200


def test_it_shows_a_manager_the_whole_navigation(manager_client):
    html = manager_client.get(reverse("admin:index")).content.decode()
    for title in ("Sessions", "Tutors", "Availability", "Date exceptions", "Products", "Payments", "Reminders"):
        assert f"<span>{title}</span>" in html
    for url in (reverse("admin:auth_group_changelist"), reverse("admin:realtime_notification_changelist")):
        assert url in html


def test_it_hides_links_a_tutor_may_not_open(client):
    tutor = TutorFactory()
    client.force_login(tutor.user)
    html = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:bookings_session_changelist") in html
    assert reverse("admin:bookings_payment_changelist") not in html
    assert reverse("admin:backoffice_user_changelist") not in html


def test_it_shows_a_tutor_only_their_own_sessions(client, demo):
    client.force_login(demo["tutor"].user)
    response = client.get(reverse("admin:bookings_session_changelist"))
    assert list(response.context["cl"].result_list) == [demo["lesson"]]


# --- Booking through the admin goes through services.book -----------------------------------


def test_it_books_through_the_add_form(admin_client, admin_user):
    session = SessionFactory(capacity=5)
    student = StudentFactory()

    response = admin_client.post(
        reverse("admin:bookings_booking_add"),
        {"session": session.pk, "student": student.pk, "payment_method": "cash"},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    booking = Booking.objects.get(session=session, student=student)
    assert booking.status == BookingStatus.PENDING
    assert booking.created_by == admin_user
    assert booking.source == "admin"
    session.refresh_from_db()
    assert session.seats_taken == 1
    assert BookingEvent.objects.filter(booking=booking, action="booking.created", actor=admin_user).exists()


def test_it_shows_a_full_session_as_a_form_error_and_writes_nothing(admin_client):
    session = SessionFactory(capacity=1)
    services.book(session=session, student=StudentFactory())
    late = StudentFactory()

    response = admin_client.post(
        reverse("admin:bookings_booking_add"),
        {"session": session.pk, "student": late.pk, "payment_method": "cash"},
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert any("full" in error for error in errors)
    assert "full" in response.content.decode()
    assert not Booking.objects.filter(student=late).exists()
    assert BookingEvent.objects.count() == 1  # the first booking's only
    session.refresh_from_db()
    assert session.seats_taken == 1


def test_it_shows_a_double_booking_as_a_form_error(admin_client):
    session = SessionFactory(capacity=5)
    student = StudentFactory()
    services.book(session=session, student=student)

    response = admin_client.post(
        reverse("admin:bookings_booking_add"),
        {"session": session.pk, "student": student.pk, "payment_method": "cash"},
    )

    assert response.status_code == 200
    assert any("already has a booking" in e for e in response.context["adminform"].form.non_field_errors())
    assert Booking.objects.filter(student=student).count() == 1


def test_it_offers_only_bookable_sessions_and_students_in_the_booking_form(admin_client, django_assert_num_queries):
    tutor = TutorFactory()
    bookable = [SessionFactory(tutor=tutor, starts_at=starts_in(hours=i)) for i in range(5)]
    SessionFactory(status="closed")
    SessionFactory(starts_at=starts_in(days=-1))
    student = StudentFactory()
    autocomplete = reverse("admin:autocomplete")
    admin_client.get(reverse("admin:index"))

    # session + user, COUNT for the pager, the page of sessions with product and tutor joined.
    with django_assert_num_queries(4):
        sessions = admin_client.get(
            autocomplete, {"app_label": "bookings", "model_name": "booking", "field_name": "session", "term": ""}
        ).json()
    students = admin_client.get(
        autocomplete, {"app_label": "bookings", "model_name": "booking", "field_name": "student", "term": ""}
    ).json()

    assert [int(r["id"]) for r in sessions["results"]] == [s.pk for s in bookable]
    assert [int(r["id"]) for r in students["results"]] == [student.pk]


def test_it_keeps_a_bookings_business_fields_when_its_change_page_is_posted(admin_client):
    booking = services.book(session=SessionFactory(), student=StudentFactory())
    url = admin_url(Booking, "change", booking.pk)

    page = admin_client.get(url)
    assert 'name="_save"' not in page.content.decode()
    admin_client.post(url, {"status": "cancelled", "price": "1", "_save": "Save"})

    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
    assert booking.price == Decimal("350000")


def test_it_confirms_and_cancels_with_list_actions_and_reports_refusals(admin_client):
    session = SessionFactory(capacity=5)
    first = services.book(session=session, student=StudentFactory())
    second = services.book(session=session, student=StudentFactory())
    services.cancel(second, reason=CancelReason.STAFF)
    changelist = reverse("admin:bookings_booking_changelist")

    response = admin_client.post(
        changelist, {"action": "confirm_selected", "_selected_action": [first.pk, second.pk]}, follow=True
    )

    first.refresh_from_db()
    assert first.status == BookingStatus.CONFIRMED
    shown = [str(m) for m in response.context["messages"]]
    assert any(first.reference in m and "confirmed" in m for m in shown)
    assert any(second.reference in m and "cannot be confirmed" in m for m in shown)

    # Bulk cancel asks for the reason first (tests/bookings/test_admin_bookings.py), then applies it.
    admin_client.post(
        changelist, {"action": "cancel_selected", "_selected_action": [first.pk], "confirm": "yes", "reason": "staff"}
    )
    first.refresh_from_db()
    assert (first.status, first.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.STAFF)
    session.refresh_from_db()
    assert session.seats_taken == 0


def test_it_lets_nobody_but_a_superuser_delete_bookings_or_payments(manager_client, admin_client, demo):
    paid = demo["paid"]
    payment = paid.payments.get()
    assert manager_client.get(admin_url(Booking, "delete", demo["pending"].pk)).status_code == 403
    assert manager_client.get(admin_url(type(payment), "delete", payment.pk)).status_code == 403
    assert admin_client.get(admin_url(type(payment), "delete", payment.pk)).status_code == 200
    # A booking that holds a seat is cancelled, never deleted: seats_taken would count it forever.
    assert admin_client.get(admin_url(Booking, "delete", demo["pending"].pk)).status_code == 403


def test_it_records_a_result_through_the_service_and_computes_the_overall(admin_client):
    booking = services.book(session=SessionFactory(), student=StudentFactory())
    services.confirm(booking)

    with time_machine.travel(booking.session.starts_at + timedelta(hours=4)):
        response = admin_client.post(
            reverse("admin:bookings_testresult_add"),
            {
                "booking": booking.pk,
                "listening": "6.5",
                "reading": "6.5",
                "writing": "5",
                "speaking": "7",
                "test_date": timezone.localdate().isoformat(),
            },
        )

    assert response.status_code == 302, response.context["adminform"].form.errors
    result = TestResult.objects.get(booking=booking)
    assert result.overall == Decimal("6.5")  # 6.25 rounds up to the half band
    booking.refresh_from_db()
    assert booking.status == BookingStatus.COMPLETED
    assert booking.has_result


def test_it_shows_an_off_grid_band_on_its_field(admin_client):
    booking = services.book(session=SessionFactory(), student=StudentFactory())
    services.confirm(booking)

    with time_machine.travel(booking.session.starts_at + timedelta(hours=4)):
        response = admin_client.post(
            reverse("admin:bookings_testresult_add"),
            {"booking": booking.pk, "listening": "6.3", "reading": "6", "writing": "6", "speaking": "6"},
        )

    assert response.status_code == 200
    assert "listening" in response.context["adminform"].form.errors
    assert not TestResult.objects.exists()


def test_it_takes_a_payment_through_the_service_and_confirms_the_booking(admin_client):
    booking = services.book(session=SessionFactory(), student=StudentFactory())

    response = admin_client.post(
        reverse("admin:bookings_payment_add"),
        {"booking": booking.pk, "provider": "cash", "amount": "350000", "provider_txn_id": ""},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.payments.get().status == "paid"


def test_it_refuses_a_capacity_below_the_seats_taken(admin_client):
    session = SessionFactory(capacity=3)
    services.book(session=session, student=StudentFactory())
    services.book(session=session, student=StudentFactory())

    response = admin_client.post(
        admin_url(Session, "change", session.pk), {"room": "Room 2", "status": "open", "capacity": "1"}
    )

    assert response.status_code == 200
    assert "capacity" in response.context["adminform"].form.errors
    session.refresh_from_db()
    assert (session.capacity, session.seats_taken) == (3, 2)


def test_it_lets_an_operator_edit_students_but_not_staff(client):
    operator = OperatorFactory()
    client.force_login(operator)
    student, manager = StudentFactory(), ManagerFactory()

    # The Users pages are managers' (issue 14): a student's opens as their Students page, staff's not at all.
    page = client.get(admin_url(type(student), "change", student.pk), follow=True)
    assert page.status_code == 200 and 'name="_save"' in page.content.decode()
    assert page.redirect_chain == [(reverse("admin:backoffice_student_change", args=[student.pk]), 302)]
    assert client.get(admin_url(type(manager), "change", manager.pk)).status_code == 403
    assert client.get(admin_url(type(student), "add")).status_code == 403
    add_form = client.get(reverse("admin:backoffice_student_add")).context["adminform"].form
    assert "role" not in add_form.fields


# --- Query counts ----------------------------------------------------------------------------


def changelist_queries(client, model) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    return len(queries)


def add_bookings(count: int) -> None:
    """``count`` bookings spread over sessions with and without a tutor, made by services.book."""
    tutor = TutorFactory()
    for i in range(count):
        session = SessionFactory(tutor=tutor if i % 2 else None, starts_at=starts_in(hours=i), capacity=2)
        services.book(session=session, student=StudentFactory())


# Queries per list page for a logged-in superuser: the session and the user, then the page's own
# (a COUNT, or two where the full count is shown; the rows; the date drill-down's range and days;
# one per filter with choices from the database). None of them grows with the rows; a manager
# adds two (their own and their groups' permissions, once per request).
EXPECTED_QUERIES = {
    "auth.Group": 5,
    "backoffice.Staff": 5,
    "backoffice.Student": 5,
    "backoffice.User": 6,
    "bookings.Availability": 6,
    "bookings.Booking": 6,
    "bookings.BookingEvent": 6,  # the action filter lists BookingAction, no DISTINCT query
    "bookings.DateException": 8,
    "bookings.FeedbackRequest": 8,
    "bookings.ImportRecord": 4,
    "bookings.Payment": 4,  # no date_hierarchy: its DISTINCT and MIN/MAX queries are gone
    "bookings.PaymentLog": 4,
    "bookings.Product": 5,
    "bookings.Reminder": 7,
    "bookings.Session": 9,
    "bookings.TestResult": 8,
    "bookings.Tutor": 5,
    "django_q.Failure": 7,
    "django_q.OrmQ": 6,
    "django_q.Schedule": 6,
    "django_q.Success": 7,
    "realtime.Notification": 7,
    "axes.AccessAttempt": 8,
    "axes.AccessFailureLog": 8,
    "axes.AccessLog": 8,
}


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=[m._meta.label for m, _ in REGISTERED])
def test_it_pins_each_list_pages_queries(admin_client, model, model_admin, demo, django_assert_num_queries):
    admin_client.get(reverse("admin:index"))  # warm the session and content-type caches
    with django_assert_num_queries(EXPECTED_QUERIES[model._meta.label]):
        assert admin_client.get(admin_url(model, "changelist")).status_code == 200


@pytest.mark.parametrize("model", [Booking, Session], ids=["bookings", "sessions"])
@pytest.mark.parametrize("who", ["admin_client", "manager_client"])
def test_it_lists_30_rows_with_the_queries_of_3(request, who, model):
    client = request.getfixturevalue(who)
    add_bookings(3)
    client.get(reverse("admin:index"))
    with_3 = changelist_queries(client, model)

    add_bookings(27)
    assert model.objects.count() == 30
    with_30 = changelist_queries(client, model)

    assert with_3 == with_30


def test_editing_a_session_changes_capacity_and_status_through_the_services(admin_client):
    session = SessionFactory(capacity=5)
    services.book(session=session, student=StudentFactory())
    url = reverse("admin:bookings_session_change", args=[session.pk])
    page = admin_client.get(url)
    data = {
        name: value
        for name, value in page.context["adminform"].form.initial.items()
        if name in page.context["adminform"].form.fields and value is not None
    }
    data.update({"capacity": 2, "status": "closed", "room": "Hall B"})
    data.update({f"bookings-{k}": v for k, v in {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0}.items()})

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    session.refresh_from_db()
    assert (session.capacity, session.status, session.room, session.seats_taken) == (2, "closed", "Hall B", 1)
