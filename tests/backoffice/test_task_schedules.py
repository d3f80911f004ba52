"""Scheduled tasks: only superusers add or change them, and only the project's own tasks can be scheduled.

A schedule names a dotted function that the worker imports and calls, so a free-text function is
remote code execution (``os.system`` with a shell command in its arguments ran as the worker's user).
"""

from __future__ import annotations

import inspect

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_q.models import Schedule
from django_q.tasks import schedule as q_schedule

from backoffice.task_schedules import TASK_PATHS
from bookings import tasks
from bookings.schedules import SCHEDULES, ensure_schedules
from tests.factories import ManagerFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:django_q_schedule_add")


def form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "shell",
        "func": "os.system",
        "hook": "",
        "args": "'touch /tmp/pwned'",
        "kwargs": "",
        "schedule_type": Schedule.ONCE,
        "minutes": "",
        "repeats": "-1",
        "next_run_0": "2030-01-01",
        "next_run_1": "10:00:00",
        "cron": "",
        "cluster": "",
        "intended_date_kwarg": "",
    }
    return {**data, **overrides}


def test_it_offers_exactly_the_public_functions_of_bookings_tasks() -> None:
    public = {
        f"bookings.tasks.{name}"
        for name, value in vars(tasks).items()
        if inspect.isfunction(value) and value.__module__ == tasks.__name__ and not name.startswith("_")
    }
    assert set(TASK_PATHS) == public
    assert {spec.func for spec in SCHEDULES} <= set(TASK_PATHS)


def test_it_refuses_a_manager_adding_a_schedule(client) -> None:
    client.force_login(ManagerFactory())

    assert client.get(ADD).status_code == 403
    response = client.post(ADD, form())

    assert response.status_code == 403
    assert not Schedule.objects.exists()


def test_it_refuses_a_manager_changing_a_schedule_but_shows_it(client) -> None:
    ensure_schedules()
    expiry = Schedule.objects.get(name="expire_pending_bookings")
    change = reverse("admin:django_q_schedule_change", args=[expiry.pk])
    client.force_login(ManagerFactory())

    assert client.get(reverse("admin:django_q_schedule_changelist")).status_code == 200
    page = client.get(change)
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    response = client.post(change, form(name=expiry.name))

    assert response.status_code == 403
    expiry.refresh_from_db()
    assert expiry.func == "bookings.tasks.expire_pending_bookings"
    assert client.post(reverse("admin:django_q_schedule_delete", args=[expiry.pk]), {"post": "yes"}).status_code == 403
    assert Schedule.objects.filter(pk=expiry.pk).exists()


def test_it_refuses_a_manager_even_with_the_schedule_permissions_granted(client) -> None:
    # Managers may edit groups, so they could grant themselves these: the page asks for a superuser.
    manager = ManagerFactory()
    manager.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="django_q", codename__endswith="_schedule")
    )
    client.force_login(manager)

    assert client.post(ADD, form()).status_code == 403
    assert not Schedule.objects.exists()


def test_it_gives_the_managers_group_only_the_view_permission_of_schedules() -> None:
    codenames = set(Group.objects.get(name="Managers").permissions.values_list("codename", flat=True))

    assert "view_schedule" in codenames
    assert not {"add_schedule", "change_schedule", "delete_schedule"} & codenames


def test_it_refuses_a_foreign_function_from_a_superuser(admin_client) -> None:
    response = admin_client.post(ADD, form())

    assert response.status_code == 200
    assert "func" in response.context["adminform"].form.errors
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kwargs", "q_options={'hook': 'os.system'}"),
        ("kwargs", "{'q_options': {}}"),
        ("kwargs", "limit=__import__('os')"),
        ("args", "open('/etc/passwd')"),
    ],
)
def test_it_refuses_queue_options_or_code_in_the_arguments(admin_client, field, value) -> None:
    response = admin_client.post(ADD, form(func="bookings.tasks.send_due_reminders", **{"args": "", field: value}))

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Schedule.objects.exists()


def test_it_ignores_a_posted_hook(admin_client) -> None:
    response = admin_client.post(ADD, form(func="bookings.tasks.send_due_reminders", args="", hook="os.system"))

    assert response.status_code == 302
    assert not Schedule.objects.get().hook


def test_it_removes_a_stored_hook_when_a_superuser_saves_the_schedule(admin_client) -> None:
    # Stored before this rule existed (the guard only checks what changes, so the scheduler can still save it).
    legacy = Schedule.objects.create(name="old", func="bookings.tasks.send_due_reminders")
    Schedule.objects.filter(pk=legacy.pk).update(hook="os.system")

    response = admin_client.post(
        reverse("admin:django_q_schedule_change", args=[legacy.pk]),
        form(name="old", func="bookings.tasks.send_due_reminders", args=""),
    )

    assert response.status_code == 302
    legacy.refresh_from_db()
    assert not legacy.hook


def test_it_lets_the_scheduler_move_an_unchanged_schedule_on() -> None:
    legacy = Schedule.objects.create(name="old", func="bookings.tasks.send_due_reminders")
    Schedule.objects.filter(pk=legacy.pk).update(func="math.floor")
    legacy.refresh_from_db()

    legacy.repeats = 3
    legacy.save()  # what django-q2's scheduler does after each run

    assert Schedule.objects.get(pk=legacy.pk).repeats == 3


def test_it_lets_a_superuser_schedule_a_project_task(admin_client) -> None:
    response = admin_client.post(
        ADD, form(name="generate ahead", func="bookings.tasks.generate_upcoming_sessions", args="", kwargs="days=30")
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    created = Schedule.objects.get(name="generate ahead")
    assert (created.func, created.kwargs) == ("bookings.tasks.generate_upcoming_sessions", "days=30")


def test_it_refuses_a_foreign_function_saved_outside_the_admin() -> None:
    with pytest.raises(ValidationError, match=r"os\.system"):
        Schedule.objects.create(name="shell", func="os.system", args="'id'")
    with pytest.raises(ValidationError):
        q_schedule("subprocess.run", "id", schedule_type=Schedule.ONCE)
    with pytest.raises(ValidationError, match="hook"):
        Schedule.objects.create(name="hooked", func="bookings.tasks.send_due_reminders", hook="os.system")
    kept = Schedule.objects.create(name="fine", func="bookings.tasks.send_due_reminders")
    kept.func = "os.system"
    with pytest.raises(ValidationError):
        kept.save()

    assert list(Schedule.objects.values_list("func", flat=True)) == ["bookings.tasks.send_due_reminders"]
