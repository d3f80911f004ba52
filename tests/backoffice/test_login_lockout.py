"""Back-office login: repeated wrong passwords lock that login from that address (django-axes).

Five failures for one login from one address lock that pair for 15 minutes (counted from the last
attempt); the person sees a page saying so, and a manager can unlock the login sooner.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import ManagerFactory, OperatorFactory

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
PASSWORD = "Harbour-lanterns-at-dusk-7"
LOCKED_TEXT = "Too many failed logins"


@pytest.fixture
def operator():
    user = OperatorFactory(username="dilnoza")
    user.set_password(PASSWORD)
    user.save()
    return user


def attempt(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": reverse("admin:index")})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def lock_out(client: Client, username: str) -> list[int]:
    return [attempt(client, username, f"wrong-{i}").status_code for i in range(5)]


def test_it_locks_a_login_after_five_wrong_passwords_and_refuses_the_right_one(client, operator) -> None:
    assert lock_out(client, "dilnoza") == [200, 200, 200, 200, 429]

    response = attempt(client, "dilnoza", PASSWORD)

    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED_TEXT in page and "dilnoza" in page and "15 minutes" in page
    assert "manager" in page  # who can unlock it
    assert not logged_in(client)


def test_it_answers_in_the_back_offices_look(client, operator) -> None:
    lock_out(client, "dilnoza")

    page = attempt(client, "dilnoza", PASSWORD).content.decode()

    assert "unfold/css/styles.css" in page
    assert f'href="{LOGIN}"' in page


def test_it_counts_failures_per_login_and_address(operator) -> None:
    other = OperatorFactory(username="aziz")
    other.set_password(PASSWORD)
    other.save()
    lock_out(Client(REMOTE_ADDR="10.0.0.1"), "dilnoza")

    from_elsewhere = Client(REMOTE_ADDR="10.0.0.2")
    same_address = Client(REMOTE_ADDR="10.0.0.1")

    assert attempt(from_elsewhere, "dilnoza", PASSWORD).status_code == 302
    assert attempt(same_address, "aziz", PASSWORD).status_code == 302
    assert attempt(Client(REMOTE_ADDR="10.0.0.1"), "dilnoza", PASSWORD).status_code == 429


def test_it_forgets_failures_after_a_successful_login(client, operator) -> None:
    for i in range(4):
        attempt(client, "dilnoza", f"wrong-{i}")
    assert attempt(client, "dilnoza", PASSWORD).status_code == 302
    client.logout()

    assert [attempt(client, "dilnoza", f"again-{i}").status_code for i in range(4)] == [200] * 4
    assert attempt(client, "dilnoza", PASSWORD).status_code == 302


def test_it_lets_the_lock_lapse_after_fifteen_quiet_minutes(client, operator) -> None:
    lock_out(client, "dilnoza")

    with time_machine.travel(timezone.now() + timedelta(minutes=14)):
        assert attempt(Client(), "dilnoza", PASSWORD).status_code == 429
    # That refused attempt started the 15 minutes again.
    with time_machine.travel(timezone.now() + timedelta(minutes=14 + 16)):
        assert attempt(Client(), "dilnoza", PASSWORD).status_code == 302


def test_it_lets_a_manager_unlock_a_login_from_the_staff_list(client, operator) -> None:
    lock_out(client, "dilnoza")
    desk = Client()
    desk.force_login(ManagerFactory())

    response = desk.post(
        reverse("admin:backoffice_staff_changelist"),
        {"action": "unlock_login", "_selected_action": [operator.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Unlocked 1 login" in response.content.decode()
    assert not AccessAttempt.objects.filter(username="dilnoza").exists()
    assert attempt(client, "dilnoza", PASSWORD).status_code == 302


def test_it_lists_locked_logins_for_a_manager_who_can_unlock_them(client, operator) -> None:
    lock_out(client, "dilnoza")
    desk = Client()
    desk.force_login(ManagerFactory())
    locked = reverse("admin:axes_accessattempt_changelist")

    page = desk.get(locked, {"locked_out": "yes"})
    assert page.status_code == 200
    assert "dilnoza" in page.content.decode()
    row = AccessAttempt.objects.get(username="dilnoza")
    response = desk.post(locked, {"action": "unlock_attempts", "_selected_action": [row.pk]}, follow=True)

    assert response.status_code == 200
    assert not AccessAttempt.objects.exists()
    assert attempt(client, "dilnoza", PASSWORD).status_code == 302


def test_it_does_not_let_an_operator_unlock_logins(operator) -> None:
    desk = Client()
    desk.force_login(OperatorFactory())

    assert desk.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403


def test_it_never_stores_the_typed_password(client, operator) -> None:
    attempt(client, "dilnoza", "my-secret-guess-123")

    row = AccessAttempt.objects.get(username="dilnoza")
    assert "my-secret-guess-123" not in f"{row.post_data} {row.get_data}"


# The ASGI handler runs the view in another thread: the rows must be committed for it to see them.
@pytest.mark.django_db(transaction=True)
async def test_it_locks_out_on_the_asgi_server_too(operator) -> None:
    client = AsyncClient()
    statuses = []
    for i in range(5):
        response = await client.post(LOGIN, {"username": "dilnoza", "password": f"wrong-{i}"})
        statuses.append(response.status_code)

    response = await client.post(LOGIN, {"username": "dilnoza", "password": PASSWORD})

    assert statuses == [200, 200, 200, 200, 429]
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED_TEXT in page and "dilnoza" in page
