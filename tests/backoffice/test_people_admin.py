"""The Students and Staff pages: a student's figures at a glance, and who may touch staff and roles."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Role, Staff, Student, User
from bookings import services
from bookings.models import BookingStatus
from bookings.models.results import SUB_SCORES
from tests.factories import (
    FeedbackRequestFactory,
    ManagerFactory,
    OperatorFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    booking_in,
)

pytestmark = pytest.mark.django_db


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def sat(student: User, *bands: str, days: int = 3) -> None:
    """A mock sat by ``student`` ``days`` from now, its four ``bands`` recorded after the sitting."""
    starts_at = timezone.now().replace(microsecond=0) + timedelta(days=days)
    booking = booking_in(BookingStatus.CONFIRMED, session=SessionFactory(starts_at=starts_at), student=student)
    with time_machine.travel(booking.session.starts_at + timedelta(hours=4)):
        services.record_result(booking, scores=dict(zip(SUB_SCORES, bands, strict=True)))


@pytest.fixture
def operator_client(client):
    client.force_login(OperatorFactory())
    return client


@pytest.fixture
def manager_client(client):
    client.force_login(ManagerFactory())
    return client


# --- Students list ---------------------------------------------------------------------------


def test_it_lists_students_with_their_bookings_and_bands(operator_client):
    student = StudentFactory(first_name="Dilnoza", last_name="Karimova")
    sat(student, "7", "7", "7", "7")  # 7.0
    sat(student, "6", "6", "6", "6")  # 6.0
    booking_in(BookingStatus.CONFIRMED, student=student)  # upcoming, paid
    booking_in(BookingStatus.PENDING, student=student)  # upcoming, unpaid
    StudentFactory()  # no bookings yet
    TutorFactory()  # staff are not students

    response = operator_client.get(url(Student, "changelist"))

    assert response.status_code == 200
    rows = {row.pk: row for row in response.context["cl"].result_list}
    assert len(rows) == 2
    row = rows[student.pk]
    assert (row.booking_count, row.upcoming, row.upcoming_pending) == (4, 1, 1)
    assert (row.average_overall, row.best_overall) == (Decimal("6.5"), Decimal("7.0"))
    html = response.content.decode()
    assert "Dilnoza Karimova" in html
    assert "1 + 1 unpaid" in html
    assert f"{timezone.localdate():%d %b %Y}" in html  # last booking


def test_it_finds_students_by_phone_name_email_or_username(operator_client):
    ali = StudentFactory(first_name="Ali", phone="+998901112233", email="ali@example.uz", username="ali-v")
    StudentFactory(first_name="Bobur", email="bobur@example.uz", username="bobur")

    for term in ("901112233", "Ali", "ali@example", "ali-v"):
        found = operator_client.get(url(Student, "changelist"), {"q": term}).context["cl"].result_list
        assert [s.pk for s in found] == [ali.pk], term


def add_students(count: int) -> None:
    tutor = TutorFactory()
    for i in range(count):
        student = StudentFactory()
        sat(student, "6", "6.5", "7", "7")
        starts_at = timezone.now().replace(microsecond=0) + timedelta(days=4, hours=i)
        session = SessionFactory(tutor=tutor if i % 2 else None, starts_at=starts_at)
        booking_in(BookingStatus.PENDING, session=session, student=student)


def changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url(Student, "changelist")).status_code == 200
    return len(queries)


def test_it_lists_30_students_with_the_queries_of_3(operator_client):
    add_students(3)
    operator_client.get(reverse("admin:index"))
    with_3 = changelist_queries(operator_client)

    add_students(27)
    assert Student.objects.count() == 30
    with_30 = changelist_queries(operator_client)

    assert with_3 == with_30


# --- A student's page ------------------------------------------------------------------------


def test_it_shows_a_students_figures_bookings_and_results_on_their_page(operator_client):
    student = StudentFactory()
    sat(student, "6.5", "7", "7.5", "6", days=2)  # 7.0
    sat(student, "5.5", "6", "6", "6", days=3)  # 6.0 (5.875)
    paid = booking_in(BookingStatus.CONFIRMED, student=student)
    unpaid = booking_in(BookingStatus.PENDING, student=student)
    FeedbackRequestFactory(student=student, score=Decimal("6.5"), completed=True)
    FeedbackRequestFactory(student=student, score=Decimal("5.5"), completed=True)
    FeedbackRequestFactory(student=student)

    response = operator_client.get(url(Student, "change", student.pk))

    assert response.status_code == 200
    cards = {card["label"]: card for card in response.context["profile"]["cards"]}
    assert cards["Tests taken"]["value"] == 2
    assert cards["Average overall"]["value"] == "6.5"
    assert cards["Best overall"]["value"] == "7.0"
    assert cards["Upcoming sessions"]["value"] == 2
    assert cards["Upcoming sessions"]["note"] == "1 awaiting payment"
    assert cards["Feedback requests"]["value"] == 3
    assert cards["Feedback requests"]["note"] == "2 completed, 1 open"
    assert cards["Feedback average"]["value"] == "6.0"

    html = response.content.decode()
    assert "data-student-profile" in html
    # Bookings newest first, each linking to its page; results below with their bands.
    assert html.index(unpaid.reference) < html.index(paid.reference)
    assert url(type(paid), "change", paid.pk) in html
    results = response.context["profile"]["results"]["rows"]
    assert [str(row[-1]) for row in results] == ["<strong>6.0</strong>", "<strong>7.0</strong>"]  # newest first
    assert "<strong>7.0</strong>" in html


def test_it_shows_a_student_without_history_plainly(operator_client):
    student = StudentFactory()

    response = operator_client.get(url(Student, "change", student.pk))

    cards = {card["label"]: card["value"] for card in response.context["profile"]["cards"]}
    assert cards == {
        "Tests taken": 0,
        "Average overall": "—",
        "Best overall": "—",
        "Upcoming sessions": 0,
        "Feedback requests": 0,
        "Feedback average": "—",
    }
    assert response.context["profile"]["results"]["rows"] == []


# --- Adding and editing students -------------------------------------------------------------


def test_an_operator_adds_a_student_by_phone_alone(operator_client):
    response = operator_client.post(
        url(Student, "add"), {"first_name": "Aziz", "last_name": "Rahimov", "phone": "90 123 45 67", "email": ""}
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    student = User.objects.get(phone="+998901234567")
    assert (student.role, student.is_staff, student.username) == (Role.STUDENT, False, "+998901234567")
    assert not student.has_usable_password()  # students never log in


def test_an_operator_adds_a_student_by_email_alone(operator_client):
    response = operator_client.post(url(Student, "add"), {"first_name": "Aziz", "phone": "", "email": "A@Example.uz"})

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.get(email="a@example.uz").role == Role.STUDENT


def test_a_student_needs_a_phone_or_an_email(operator_client):
    response = operator_client.post(url(Student, "add"), {"first_name": "Nobody", "phone": "", "email": ""})

    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert not User.objects.filter(first_name="Nobody").exists()


def test_a_students_phone_is_unique(operator_client):
    StudentFactory(phone="+998901234567")

    response = operator_client.post(url(Student, "add"), {"first_name": "Twin", "phone": "+998901234567"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert User.objects.filter(phone="+998901234567").count() == 1


def test_an_operator_edits_a_student_but_cannot_give_them_a_role(operator_client):
    student = StudentFactory(first_name="Old")

    response = operator_client.post(
        url(Student, "change", student.pk),
        {
            "first_name": "New",
            "last_name": student.last_name,
            "phone": student.phone,
            "email": student.email,
            "is_active": "on",
            "role": Role.MANAGER,  # not a field of the student form: ignored
            "bookings-TOTAL_FORMS": "0",
            "bookings-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    student.refresh_from_db()
    assert (student.first_name, student.role, student.is_staff) == ("New", Role.STUDENT, False)


# --- Staff -----------------------------------------------------------------------------------


def test_an_operator_cannot_open_the_staff_pages(operator_client):
    manager = ManagerFactory()

    assert operator_client.get(url(Staff, "changelist")).status_code == 403
    assert operator_client.get(url(Staff, "add")).status_code == 403
    assert operator_client.get(url(Staff, "change", manager.pk)).status_code == 403
    # Nor do staff exist behind the student pages.
    response = operator_client.get(url(Student, "change", manager.pk))
    assert response.status_code == 302
    assert response.url == reverse("admin:index")


def test_an_operator_cannot_change_a_role_on_the_users_page(operator_client):
    student = StudentFactory()
    # The Users pages are managers' (issue 14): a student's opens as their Students page, without a role.
    page = operator_client.get(url(User, "change", student.pk), follow=True)
    assert page.redirect_chain == [(url(Student, "change", student.pk), 302)]
    assert "role" not in page.context["adminform"].form.fields

    operator_client.post(
        url(User, "change", student.pk),
        {"username": student.username, "first_name": "X", "role": Role.MANAGER, "is_active": "on"},
    )

    student.refresh_from_db()
    assert (student.role, student.is_staff) == (Role.STUDENT, False)


def test_a_manager_lists_staff_with_their_roles(manager_client):
    tutor = TutorFactory().user
    operator = OperatorFactory()
    StudentFactory()

    response = manager_client.get(url(Staff, "changelist"))

    assert response.status_code == 200
    listed = {user.pk for user in response.context["cl"].result_list}
    assert {tutor.pk, operator.pk} <= listed
    assert not User.objects.filter(pk__in=listed, role=Role.STUDENT).exists()
    html = response.content.decode()
    assert "Tutor" in html and "Operator" in html


def test_a_manager_changes_a_staff_members_role(manager_client):
    operator = OperatorFactory()

    response = manager_client.post(
        url(Staff, "change", operator.pk),
        {
            "username": operator.username,
            "first_name": operator.first_name,
            "last_name": operator.last_name,
            "phone": operator.phone,
            "email": operator.email,
            "role": Role.MANAGER,
            "is_active": "on",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    operator.refresh_from_db()
    assert operator.role == Role.MANAGER
    assert list(operator.groups.values_list("name", flat=True)) == ["Managers"]


def test_the_staff_role_choices_hold_staff_roles_only(manager_client):
    form = manager_client.get(url(Staff, "add")).context["adminform"].form

    assert [value for value, _ in form.fields["role"].choices] == [Role.MANAGER, Role.OPERATOR, Role.TUTOR]


def test_the_sidebar_links_students_and_staff(manager_client):
    html = manager_client.get(reverse("admin:index")).content.decode()

    assert url(Student, "changelist") in html
    assert url(Staff, "changelist") in html
