from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from backoffice.models import Role, User
from backoffice.phones import normalize_phone

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("typed", ["+998 90 123 45 67", "998901234567", "901234567", "90 123-45-67", "+998(90)1234567"])
def test_it_normalises_what_people_type_to_e164(typed):
    assert normalize_phone(typed) == "+998901234567"


@pytest.mark.parametrize("typed", ["12345", "hello", "+998 12", ""])
def test_it_refuses_what_is_not_a_phone(typed):
    with pytest.raises(ValidationError):
        normalize_phone(typed)


def test_it_validates_and_cleans_the_phone_on_the_model():
    user = User(username="ali", phone="90 123 45 67", email=" Ali@Example.UZ ")
    user.set_unusable_password()
    user.full_clean()
    assert (user.phone, user.email) == ("+998901234567", "ali@example.uz")


def test_it_keeps_phones_unique_when_set_but_allows_many_blank():
    User.objects.create(username="a", phone="+998901234567")
    User.objects.create(username="b", phone="")
    User.objects.create(username="c", phone="")
    with pytest.raises(IntegrityError):
        User.objects.create(username="d", phone="+998901234567")


def test_it_keeps_emails_unique_ignoring_case():
    User.objects.create(username="a", email="ali@example.uz")
    with pytest.raises(IntegrityError):
        User.objects.create(username="b", email="ALI@example.uz")


def test_a_student_without_username_gets_one_from_phone_or_email():
    assert User.objects.create(phone="+998901234567").username == "+998901234567"
    assert User.objects.create(email="x@example.uz").username == "x@example.uz"
    assert User.objects.create().username.startswith("user-")


@pytest.mark.parametrize(
    ("role", "group", "is_staff"),
    [
        (Role.MANAGER, "Managers", True),
        (Role.OPERATOR, "Operators", True),
        (Role.TUTOR, "Tutors", True),
        (Role.STUDENT, None, False),
    ],
)
def test_the_role_sets_staff_access_and_the_group(role, group, is_staff):
    user = User.objects.create(username="u", role=role)
    assert user.is_staff is is_staff
    assert list(user.groups.values_list("name", flat=True)) == ([group] if group else [])


def test_changing_role_moves_the_user_between_groups():
    user = User.objects.create(username="u", role=Role.OPERATOR)
    user.role = Role.MANAGER
    user.save()
    assert list(user.groups.values_list("name", flat=True)) == ["Managers"]


def test_the_migration_creates_groups_with_sensible_permissions():
    perms = {g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()}
    assert {"Managers", "Operators", "Tutors"} <= set(perms)
    assert {"delete_booking", "delete_user", "change_product"} <= perms["Managers"]
    assert {"add_booking", "change_booking", "add_payment", "change_session"} <= perms["Operators"]
    assert not {p for p in perms["Operators"] if p.startswith("delete_")}  # operators cancel, never delete
    assert "change_product" not in perms["Operators"]
    assert {"view_session", "view_booking", "add_testresult", "change_feedbackrequest"} <= perms["Tutors"]
    assert not {"add_booking", "change_booking", "view_payment", "view_user"} & perms["Tutors"]


def test_a_superuser_is_a_manager():
    user = User.objects.create_superuser("root", "root@example.uz", "pw-12345-long")
    assert (user.role, user.is_staff) == (Role.MANAGER, True)
    assert list(user.groups.values_list("name", flat=True)) == ["Managers"]
