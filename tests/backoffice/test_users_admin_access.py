"""The Users admin (every account, staff with their phones and e-mails) is a manager's: operators
and tutors find no entry for it in the sidebar or under "All applications", and its URLs answer
403 -- except a student's page, which opens as the student's. The student pickers still work."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from backoffice.models import User
from tests.factories import ManagerFactory, OperatorFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db


def users_urls(staff: User) -> dict[str, str]:
    return {
        "list": reverse("admin:backoffice_user_changelist"),
        "add": reverse("admin:backoffice_user_add"),
        "staff page": reverse("admin:backoffice_user_change", args=[staff.pk]),
        "staff history": reverse("admin:backoffice_user_history", args=[staff.pk]),
        "staff delete": reverse("admin:backoffice_user_delete", args=[staff.pk]),
        "staff password": reverse("admin:auth_user_password_change", args=[staff.pk]),
    }


PEOPLE = {
    "operator": OperatorFactory,
    "tutor": lambda: TutorFactory().user,
}


@pytest.mark.parametrize("role", PEOPLE)
def test_the_users_pages_answer_403_to_operators_and_tutors(client, role):
    person = PEOPLE[role]()
    manager = ManagerFactory()
    client.force_login(person)

    answers = {name: client.get(url).status_code for name, url in users_urls(manager).items()}

    assert answers == dict.fromkeys(answers, 403)
    assert (
        client.post(reverse("admin:backoffice_user_change", args=[manager.pk]), {"first_name": "X"}).status_code == 403
    )
    manager.refresh_from_db()
    assert manager.first_name != "X"


def test_an_operator_opening_a_students_user_page_lands_on_the_students_page(client):
    student = StudentFactory()
    client.force_login(OperatorFactory())

    response = client.get(reverse("admin:backoffice_user_change", args=[student.pk]))

    assert response.status_code == 302
    assert response.url == reverse("admin:backoffice_student_change", args=[student.pk])
    assert client.get(response.url).status_code == 200


def test_a_manager_opens_every_users_page(client):
    manager, operator = ManagerFactory(), OperatorFactory()
    client.force_login(manager)

    answers = {name: client.get(url).status_code for name, url in users_urls(operator).items()}

    assert answers == dict.fromkeys(answers, 200)


@pytest.mark.parametrize("role", ["operator", "manager", "tutor"])
def test_the_users_entry_shows_in_all_applications_for_managers_only(client, role):
    person = {"operator": OperatorFactory, "manager": ManagerFactory, "tutor": lambda: TutorFactory().user}[role]()
    request = RequestFactory().get("/admin/")
    request.user = person
    client.force_login(person)

    models = {m["object_name"] for app in admin.site.get_app_list(request) for m in app["models"]}
    html = client.get(reverse("admin:index")).content.decode()

    users_link = f'href="{reverse("admin:backoffice_user_changelist")}"'
    if role == "manager":
        assert {"User", "Staff"} <= models and users_link in html
    else:
        assert not {"User", "Staff", "Group"} & models, models
        assert users_link not in html
    if role == "operator":
        assert "Student" in models  # the desk's own people pages stay


def test_an_operators_student_picker_still_finds_students_and_no_staff(client):
    student = StudentFactory(first_name="Dilnoza", phone="+998901234567")
    staff = OperatorFactory(first_name="Dilnoza")
    client.force_login(OperatorFactory())

    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "bookings", "model_name": "booking", "field_name": "student", "term": "Dilnoza"},
    )

    assert response.status_code == 200
    found = {int(result["id"]) for result in response.json()["results"]}
    assert student.pk in found and staff.pk not in found


def test_an_operators_booking_form_offers_no_add_user_button(client):
    client.force_login(OperatorFactory())

    html = client.get(reverse("admin:bookings_booking_add")).content.decode()

    assert reverse("admin:backoffice_user_add") not in html
