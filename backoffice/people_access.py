"""A model admin whose pages are managers' only: the Users admin (every account, staff included).

Operators look after students on the Students pages. For anyone else than a manager (or a
superuser) an admin with ``managers_only = True`` has no list and no page (403), no entry in the
sidebar or under "All applications", and no "add another" button beside a form's person field;
a link to a student's page opens as the student's (Students), when the person may view that.
The view permission itself is kept: Django's autocomplete asks for it, and the admin's
``get_search_results`` limits what a picker finds.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from backoffice.models import Role, Student


def manages_staff(user: Any) -> bool:
    return user.is_superuser or getattr(user, "role", None) == Role.MANAGER


class ManagersOnlyPagesMixin:
    """Put before the ModelAdmin in the bases; a subclass for everyone sets ``managers_only = False``."""

    managers_only = True
    admin_site: Any

    def opens_pages(self, request: HttpRequest) -> bool:
        return not self.managers_only or manages_staff(request.user)

    def refuse_pages(self, request: HttpRequest) -> None:
        if not self.opens_pages(request):
            raise PermissionDenied

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.opens_pages(request) and super().has_module_permission(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        self.refuse_pages(request)
        return super().changelist_view(request, extra_context)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None):
        self.refuse_pages(request)
        return super().add_view(request, form_url, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.opens_pages(request):
            # Links to a person (a booking's student, "created by") name this page; a student's
            # opens as theirs, anyone else's is refused.
            students = self.admin_site.get_model_admin(Student)
            is_student = str(object_id).isdigit() and Student.objects.filter(pk=object_id).exists()
            if is_student and students.has_view_permission(request):
                return HttpResponseRedirect(reverse("admin:backoffice_student_change", args=[object_id]))
            raise PermissionDenied
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None):
        self.refuse_pages(request)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None):
        self.refuse_pages(request)
        return super().history_view(request, object_id, extra_context)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        self.refuse_pages(request)
        return super().user_change_password(request, id, form_url)
