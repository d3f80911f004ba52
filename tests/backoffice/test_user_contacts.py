"""A phone number or e-mail someone already has: the form says who, with a link to their page,
never the database constraint's name; the students import names them in a row error."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.models import Role, Student, User
from tests.bookings.imports.util import messages, run
from tests.factories import ManagerFactory, OperatorFactory, StudentFactory

pytestmark = pytest.mark.django_db

STUDENT_INLINE = {"bookings-TOTAL_FORMS": "0", "bookings-INITIAL_FORMS": "0"}


@pytest.fixture
def operator_client(client):
    client.force_login(OperatorFactory())
    return client


def phone_error(response) -> str:
    assert response.status_code == 200
    return str(response.context["adminform"].form.errors["phone"])


def test_adding_a_student_with_a_number_someone_has_says_who_with_a_link(operator_client):
    holder = StudentFactory(first_name="Aziz", last_name="Karimov", phone="+998901234567")

    response = operator_client.post(
        reverse("admin:backoffice_student_add"), {"first_name": "Twin", "phone": "90 123 45 67", "email": ""}
    )

    error = phone_error(response)
    link = reverse("admin:backoffice_student_change", args=[holder.pk])
    assert (
        f'This phone number already belongs to <a class="text-primary-600 underline" href="{link}">Aziz Karimov</a>.'
        in error
    )
    html = response.content.decode()
    assert f'href="{link}">Aziz Karimov</a>' in html
    assert "user_phone_unique" not in html and "is violated" not in html
    assert User.objects.filter(phone="+998901234567").count() == 1


def test_the_holders_name_is_escaped(operator_client):
    StudentFactory(first_name="<script>alert(1)</script>", last_name="", phone="+998901234567")

    response = operator_client.post(
        reverse("admin:backoffice_student_add"), {"first_name": "Twin", "phone": "+998901234567"}
    )

    html = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html


def test_editing_a_student_keeps_their_own_number_but_not_anothers(operator_client):
    student = StudentFactory(phone="+998901111111")
    StudentFactory(first_name="Malika", last_name="Rahimova", phone="+998902222222")
    data = {"first_name": student.first_name, "last_name": student.last_name, "email": student.email, "is_active": "on"}
    url = reverse("admin:backoffice_student_change", args=[student.pk])

    kept = operator_client.post(url, {**data, "phone": "+998901111111", **STUDENT_INLINE})
    taken = operator_client.post(url, {**data, "phone": "+998902222222", **STUDENT_INLINE})

    assert kept.status_code == 302
    assert "already belongs to" in phone_error(taken) and "Malika Rahimova" in phone_error(taken)
    student.refresh_from_db()
    assert student.phone == "+998901111111"


def test_a_staff_members_number_links_to_their_user_page(client):
    manager = ManagerFactory()
    operator = OperatorFactory(first_name="Olim", last_name="Operator", phone="+998903333333")
    client.force_login(manager)

    response = client.post(reverse("admin:backoffice_student_add"), {"first_name": "New", "phone": "+998903333333"})

    assert reverse("admin:backoffice_user_change", args=[operator.pk]) in phone_error(response)


def test_an_email_someone_has_in_any_case_says_who(operator_client):
    holder = StudentFactory(first_name="Aziz", last_name="Karimov", email="aziz@example.uz")

    response = operator_client.post(
        reverse("admin:backoffice_student_add"), {"first_name": "Twin", "phone": "", "email": "AZIZ@example.uz"}
    )

    error = str(response.context["adminform"].form.errors["email"])
    assert "This e-mail address already belongs to" in error
    assert reverse("admin:backoffice_student_change", args=[holder.pk]) in error


def test_the_students_import_names_who_has_the_number():
    staff = OperatorFactory(first_name="Olim", last_name="Operator", phone="+998903333333")
    StudentFactory(first_name="Aziz", last_name="Karimov", phone="+998901234567", email="aziz@example.uz")
    StudentFactory(first_name="Malika", last_name="Rahimova", phone="+998902222222", email="malika@example.uz")

    report = run(
        "students",
        [
            ["phone", "email", "first_name", "last_name"],
            ["+998903333333", "", "New", ""],
            ["+998901234567", "malika@example.uz", "Aziz", ""],
        ],
    )

    assert messages(report) == [
        f"Line 2: +998903333333 belongs to {staff} (operator), not a student.",
        "Line 3: phone +998901234567 belongs to Aziz Karimov but e-mail malika@example.uz to Malika Rahimova: "
        "they are two different people.",
    ]
    assert User.objects.filter(role=Role.STUDENT).count() == 2
    assert Student.objects.count() == 2
