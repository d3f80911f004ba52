from __future__ import annotations

import pytest

from backoffice.models import Role, User
from tests.bookings.imports.util import messages, run
from tests.factories import OperatorFactory, StudentFactory

pytestmark = pytest.mark.django_db

HEADER = ["phone", "email", "first_name", "last_name"]


def test_it_creates_students_with_normalised_phones_and_lower_case_e_mails():
    report = run(
        "students",
        [
            HEADER,
            ["+998 90 123 45 67", "Aziz@Example.com", "Aziz", "Karimov"],
            ["901234568", "", "Malika", ""],
            ["998901234569", "", "", ""],
            ["", "only@mail.uz", "Only", "Mail"],
        ],
    )

    assert report.ok, messages(report)
    assert report.counts["new"] == 4
    users = {u.phone or u.email: u for u in User.objects.all()}
    assert set(users) == {"+998901234567", "+998901234568", "+998901234569", "only@mail.uz"}
    aziz = users["+998901234567"]
    assert (aziz.email, aziz.first_name, aziz.role, aziz.is_staff) == ("aziz@example.com", "Aziz", Role.STUDENT, False)
    assert aziz.username == "+998901234567" and not aziz.has_usable_password()
    assert users["only@mail.uz"].username == "only@mail.uz"


def test_reimport_skips_and_a_changed_name_updates():
    rows = [HEADER, ["+998901234567", "a@b.uz", "Aziz", "Karimov"]]
    assert run("students", rows).ok

    again = run("students", rows)
    renamed = run("students", [HEADER, ["90 123 45 67", "", "Aziz", "Karimova"]])

    assert again.counts == {"new": 0, "updated": 0, "skipped": 1, "invalid": 0}
    assert "nothing changed" in again.summary
    assert renamed.counts["updated"] == 1
    assert renamed.preview[0].message == "last name Karimov → Karimova"
    assert User.objects.get().last_name == "Karimova"
    assert User.objects.count() == 1


def test_a_missing_e_mail_or_phone_is_filled_in_but_a_different_one_is_kept():
    by_phone = StudentFactory(phone="+998901234567", email="")
    by_email = StudentFactory(phone="+998901111111", email="known@mail.uz")

    report = run(
        "students", [HEADER, ["+998901234567", "new@mail.uz", "", ""], ["+998909999999", "KNOWN@mail.uz", "", ""]]
    )

    assert report.ok, messages(report)
    assert [(row.action, row.message) for row in report.preview] == [
        ("updated", "email added"),
        ("skipped", "already there, unchanged; phone on record kept: +998901111111"),
    ]
    by_phone.refresh_from_db()
    by_email.refresh_from_db()
    assert by_phone.email == "new@mail.uz"
    assert by_email.phone == "+998901111111"


def test_it_explains_each_bad_row():
    phone_owner = StudentFactory(phone="+998901111111", email="one@mail.uz")
    email_owner = StudentFactory(phone="+998902222222", email="two@mail.uz")
    operator = OperatorFactory(phone="+998903333333")
    rows = [
        HEADER,
        ["", "", "No", "Contact"],
        ["12345", "not-an-email", "", ""],
        ["+998901111111", "two@mail.uz", "", ""],
        ["+998903333333", "", "", ""],
        ["+998904444444", "", "First", ""],
        ["+998 90 444 44 44", "", "Again", ""],
        ["", "dup@mail.uz", "", ""],
        ["+998905555555", "DUP@mail.uz", "", ""],
        ["+998906666666", "", "x" * 151, ""],
    ]

    report = run("students", rows)

    assert messages(report) == [
        "Line 2: give a phone or an e-mail: a student is found by one of them.",
        "Line 3: “12345” in phone is not a phone number.",
        "Line 3: “not-an-email” in email is not an e-mail address.",
        f"Line 4: phone +998901111111 belongs to {phone_owner} but e-mail two@mail.uz to {email_owner}: "
        "they are two different people.",
        f"Line 5: +998903333333 belongs to {operator} (operator), not a student.",
        "Line 7: +998904444444 is already on line 6: a student appears once.",
        "Line 9: dup@mail.uz is already on line 8: a student appears once.",
        "Line 10: first_name is longer than 150 characters.",
    ]
    assert report.counts == {"new": 2, "updated": 0, "skipped": 0, "invalid": 7}
    assert User.objects.count() == 3


def test_a_username_already_taken_gets_a_generated_one():
    StudentFactory(username="+998901234567", phone="+998907777777")

    report = run("students", [HEADER, ["+998901234567", "", "", ""]])

    assert report.ok, messages(report)
    assert User.objects.get(phone="+998901234567").username.startswith("user-")
