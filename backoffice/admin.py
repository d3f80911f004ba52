"""People and access: users, role groups, and the task queue's pages in unfold's look.

A user's role decides their staff flag (User.save) and their role group (a post_save signal),
so neither is edited here. Operators look after students; only managers hand out staff roles,
and only a superuser makes or changes a superuser.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django_q import models as q_models
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from backoffice.models import Role, User


def manages_staff(user: Any) -> bool:
    return user.is_superuser or getattr(user, "role", None) == Role.MANAGER


class UserAddForm(UserCreationForm):
    """Students are added by phone or e-mail; the login name is only needed for staff."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].required = False
        self.fields["username"].help_text = "Leave empty to use the phone number or e-mail address."

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not (data.get("phone") or data.get("email") or data.get("username")):
            self.add_error("phone", "Enter a phone number or an e-mail address.")
        return data


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserAddForm
    change_password_form = AdminPasswordChangeForm

    list_display = ("username", "full_name", "phone", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active", "is_superuser", "groups")
    search_fields = ("username", "first_name", "last_name", "email", "phone")
    ordering = ("first_name", "last_name", "id")
    filter_horizontal = ("user_permissions",)
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "phone", "email")}),
        ("Access", {"fields": ("role", "is_active", "is_staff", "groups", "is_superuser", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"fields": ("first_name", "last_name", "phone", "email", "role")}),
        ("Login", {"fields": ("username", "usable_password", "password1", "password2")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        # is_staff follows the role (User.save) and groups follow it too (signal); the form's
        # groups would otherwise be saved after the signal and undo it.
        readonly: tuple[str, ...] = ("is_staff", "groups", "last_login", "date_joined")
        if not request.user.is_superuser:
            readonly += ("is_superuser", "user_permissions")
        if obj is not None and not manages_staff(request.user):
            readonly += ("role",)
        return readonly

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if request.GET.get("field_name") == "student":
            # The student pickers (booking, feedback) autocomplete through here: offer students.
            # is_staff too: createsuperuser leaves a superuser with the default role, student.
            queryset = queryset.filter(role=Role.STUDENT, is_staff=False)
        return queryset, may_have_duplicates

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name == "role" and not manages_staff(request.user):
            kwargs["choices"] = [(Role.STUDENT.value, Role.STUDENT.label)]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def _may_edit(self, request: HttpRequest, obj: User | None) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        if obj.is_superuser:
            return False
        return manages_staff(request.user) or obj.role == Role.STUDENT

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_edit(request, obj)

    @display(description="Name", ordering="first_name")
    def full_name(self, obj: User) -> str:
        return obj.get_full_name()


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


# django-q2 registers its task pages with Django's plain ModelAdmin; give them unfold's.
for _model in (q_models.Schedule, q_models.Success, q_models.Failure, q_models.OrmQ):
    if admin.site.is_registered(_model):
        _base = type(admin.site.get_model_admin(_model))
        admin.site.unregister(_model)
        admin.site.register(_model, type(_base.__name__, (_base, ModelAdmin), {}))
