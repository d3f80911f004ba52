"""Staff roles and the Django groups (with their permissions) that back them."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from backoffice.models import ROLE_GROUPS, STAFF_ROLES, Role

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
# Custom permission for loading a spreadsheet (Meta.permissions "import_<model>"; issue 6).
IMPORT = "import"

# (app label, model) -> actions. Managers get every permission of these apps.
OPERATOR_PERMISSIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("bookings", "product"): (VIEW,),
    ("bookings", "tutor"): (VIEW,),
    ("bookings", "availability"): (VIEW,),
    ("bookings", "dateexception"): (VIEW,),
    ("bookings", "session"): (VIEW, ADD, CHANGE),
    ("bookings", "booking"): (VIEW, ADD, CHANGE, IMPORT),
    ("bookings", "bookingevent"): (VIEW,),
    ("bookings", "payment"): (VIEW, ADD, CHANGE),
    ("bookings", "reminder"): (VIEW, CHANGE),
    ("bookings", "testresult"): (VIEW, ADD, CHANGE),
    ("bookings", "feedbackrequest"): (VIEW, ADD, CHANGE),
    ("bookings", "importrecord"): (VIEW,),  # the import history, where a confirmed import lands
    ("backoffice", "user"): (VIEW, ADD, CHANGE),
    # Operators import students (and bookings) but not sessions or results: those are managers'.
    ("backoffice", "student"): (IMPORT,),
    ("realtime", "notification"): (VIEW, CHANGE),
}
TUTOR_PERMISSIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("bookings", "session"): (VIEW,),
    ("bookings", "booking"): (VIEW,),
    ("bookings", "bookingevent"): (VIEW,),
    ("bookings", "availability"): (VIEW, ADD, CHANGE, DELETE),
    ("bookings", "dateexception"): (VIEW, ADD, CHANGE, DELETE),
    ("bookings", "testresult"): (VIEW, ADD, CHANGE),
    ("bookings", "feedbackrequest"): (VIEW, CHANGE),
    ("realtime", "notification"): (VIEW, CHANGE),
}
MANAGER_APPS = ("bookings", "backoffice", "realtime", "auth")
# System pages of other apps. The task queue (django-q2): managers watch it and clear finished or
# failed tasks, but a schedule names a function the worker runs, so adding, changing or deleting one
# is for superusers only (backoffice.task_schedules; ScheduleAdmin checks is_superuser, whatever a
# group holds).
MANAGER_SYSTEM_PERMISSIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("django_q", "schedule"): (VIEW,),
    ("django_q", "success"): (VIEW, DELETE),
    ("django_q", "failure"): (VIEW, DELETE),
    ("django_q", "ormq"): (VIEW, DELETE),
    # Locked logins (django-axes): deleting a failed-login record unlocks that login.
    ("axes", "accessattempt"): (VIEW, DELETE),
    ("axes", "accesslog"): (VIEW,),
    ("axes", "accessfailurelog"): (VIEW,),
}


def _permissions(Permission: Any, table: dict[tuple[str, str], tuple[str, ...]]) -> Any:
    query = Q(pk__in=[])
    for (app_label, model), actions in table.items():
        query |= Q(content_type__app_label=app_label, codename__in=[f"{a}_{model}" for a in actions])
    return Permission.objects.filter(query)


def sync_role_groups(Group: Any, Permission: Any) -> None:
    """Create the Managers, Operators and Tutors groups and give them exactly their permissions.

    Idempotent. Run by the data migration and after every ``migrate`` (and test-database flush),
    so the groups exist even after a flush and pick up the permissions of models added later.
    """
    managers, _ = Group.objects.get_or_create(name=ROLE_GROUPS[Role.MANAGER])
    managers.permissions.set(
        Permission.objects.filter(content_type__app_label__in=MANAGER_APPS)
        | _permissions(Permission, MANAGER_SYSTEM_PERMISSIONS)
    )
    operators, _ = Group.objects.get_or_create(name=ROLE_GROUPS[Role.OPERATOR])
    operators.permissions.set(_permissions(Permission, OPERATOR_PERMISSIONS))
    tutors, _ = Group.objects.get_or_create(name=ROLE_GROUPS[Role.TUTOR])
    tutors.permissions.set(_permissions(Permission, TUTOR_PERMISSIONS))


__all__ = [
    "MANAGER_APPS",
    "MANAGER_SYSTEM_PERMISSIONS",
    "OPERATOR_PERMISSIONS",
    "ROLE_GROUPS",
    "STAFF_ROLES",
    "TUTOR_PERMISSIONS",
    "Role",
    "sync_role_groups",
]
