"""Who may call what. Objects are always looked up through the caller's own scope (their bookings,
their sessions), so another person's object is a 404, never a 403 that tells it exists."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from backoffice.models import Role


class HasRole(BasePermission):
    role: str = ""
    message = "This is not open to your account."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.role == self.role)


class IsStudent(HasRole):
    role = Role.STUDENT
    message = "Only students can do this."


class IsTutor(HasRole):
    """A tutor with a tutor profile (``request.user.tutor``)."""

    role = Role.TUTOR
    message = "Only tutors can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return super().has_permission(request, view) and hasattr(request.user, "tutor")
