"""Passwords set through the back office follow Django's validators: long enough, not common, not
all digits, not like the person's own name or login."""

from __future__ import annotations

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse

from backoffice.models import User
from tests.factories import ManagerFactory, OperatorFactory

pytestmark = pytest.mark.django_db

WEAK = ["password", "12345678", "qwertyuiop123", "839201746152", "Short-1", "Dilnoza-2024"]


def password_page(user: User) -> str:
    # UserAdmin names this URL "auth_user_password_change" on every page it serves (User, Staff, Student).
    return reverse("admin:backoffice_staff_changelist") + f"{user.pk}/password/"


@pytest.fixture
def operator() -> User:
    return OperatorFactory(username="dilnoza", first_name="Dilnoza", last_name="Rashidova")


@pytest.mark.parametrize("weak", WEAK)
def test_it_refuses_a_weak_password_set_by_a_manager(client, operator, weak) -> None:
    client.force_login(ManagerFactory())
    before = User.objects.get(pk=operator.pk).password

    response = client.post(
        password_page(operator),
        {"password1": weak, "password2": weak, "usable_password": "true"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["password2"]
    assert User.objects.get(pk=operator.pk).password == before


@pytest.mark.parametrize("weak", ["password", "12345678"])
def test_it_refuses_a_weak_password_chosen_by_the_person(client, operator, weak) -> None:
    operator.set_password("Old-harbour-lanterns-1")
    operator.save()
    client.force_login(operator)

    response = client.post(
        reverse("admin:password_change"),
        {"old_password": "Old-harbour-lanterns-1", "new_password1": weak, "new_password2": weak},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    operator.refresh_from_db()
    assert operator.check_password("Old-harbour-lanterns-1")


def test_it_accepts_a_long_uncommon_password(client, operator) -> None:
    client.force_login(ManagerFactory())

    response = client.post(
        password_page(operator),
        {
            "password1": "Harbour-lanterns-at-dusk-7",
            "password2": "Harbour-lanterns-at-dusk-7",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.check_password("Harbour-lanterns-at-dusk-7")


def test_it_names_every_rule_a_password_breaks(operator) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_password("12345678", user=operator)

    codes = {error.code for error in refused.value.error_list}
    assert {"password_too_short", "password_too_common", "password_entirely_numeric"} <= codes
