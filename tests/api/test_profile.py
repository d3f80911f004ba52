"""me/: read and change name, e-mail and language."""

from __future__ import annotations

import pytest

from backoffice.models import Language
from tests.api.conftest import API, assert_error
from tests.factories import StudentFactory

pytestmark = pytest.mark.django_db


def test_it_shows_the_signed_in_person(student, student_api):
    body = student_api.get(API + "me/").json()

    assert body == {
        "id": student.pk,
        "phone": student.phone,
        "first_name": student.first_name,
        "last_name": student.last_name,
        "email": student.email,
        "language": "en",
        "role": "student",
    }


def test_it_changes_name_email_and_language(student, student_api):
    response = student_api.patch(
        API + "me/",
        {"first_name": " Dilnoza ", "last_name": "Rahimova", "email": " Dilnoza@Example.COM ", "language": "uz"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    student.refresh_from_db()
    assert (student.first_name, student.last_name, student.email, student.language) == (
        "Dilnoza",
        "Rahimova",
        "dilnoza@example.com",
        Language.UZ,
    )


def test_phone_and_role_cannot_be_changed(student, student_api):
    phone = student.phone

    student_api.patch(API + "me/", {"phone": "+998909999999", "role": "manager"}, format="json")

    student.refresh_from_db()
    assert (student.phone, student.role) == (phone, "student")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "fr"}, "language"),
        ({"email": "not-an-email"}, "email"),
        ({"first_name": "x" * 200}, "first_name"),
        ({"first_name": "a\x00b"}, "first_name"),
        ({"email": None}, "email"),
    ],
)
def test_bad_input_is_a_400(student_api, body, field):
    assert field in assert_error(student_api.patch(API + "me/", body, format="json"), 400, "invalid")["fields"]


def test_an_email_another_account_has_is_refused(student_api):
    StudentFactory(email="taken@example.com")

    body = assert_error(student_api.patch(API + "me/", {"email": "TAKEN@example.com"}, format="json"), 400, "invalid")

    assert body["fields"]["email"] == ["Another account has this e-mail address."]


def test_put_is_not_offered(student_api):
    assert_error(student_api.put(API + "me/", {}, format="json"), 405, "method_not_allowed")
