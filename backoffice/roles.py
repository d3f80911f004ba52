"""Staff roles and the Django groups (with their permissions) that back them."""

from __future__ import annotations

from backoffice.models import ROLE_GROUPS, STAFF_ROLES, Role

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"

# (app label, model) -> actions. Managers get every permission of these apps.
OPERATOR_PERMISSIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("bookings", "product"): (VIEW,),
    ("bookings", "tutor"): (VIEW,),
    ("bookings", "availability"): (VIEW,),
    ("bookings", "dateexception"): (VIEW,),
    ("bookings", "session"): (VIEW, ADD, CHANGE),
    ("bookings", "booking"): (VIEW, ADD, CHANGE),
    ("bookings", "bookingevent"): (VIEW,),
    ("bookings", "payment"): (VIEW, ADD, CHANGE),
    ("bookings", "reminder"): (VIEW, CHANGE),
    ("bookings", "testresult"): (VIEW, ADD, CHANGE),
    ("bookings", "feedbackrequest"): (VIEW, ADD, CHANGE),
    ("backoffice", "user"): (VIEW, ADD, CHANGE),
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
MANAGER_APPS = ("bookings", "backoffice", "realtime", "django_q", "auth")

__all__ = [
    "MANAGER_APPS",
    "OPERATOR_PERMISSIONS",
    "ROLE_GROUPS",
    "STAFF_ROLES",
    "TUTOR_PERMISSIONS",
    "Role",
]
