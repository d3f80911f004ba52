"""People and access: users, students, staff, role groups, and the task queue's pages in unfold's look.

A user's role decides their staff flag (User.save) and their role group (a post_save signal),
so neither is edited here. Operators look after students; only managers hand out staff roles,
and only a superuser makes or changes a superuser. Students and Staff are proxies of User with
pages of their own; they share the User permissions the role groups grant.
"""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from axes.utils import reset as axes_reset
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_q import models as q_models
from django_q.admin import ScheduleAdmin as QScheduleAdmin
from unfold.admin import TabularInline
from unfold.decorators import action, display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.widgets import UnfoldAdminSelectWidget

from backoffice.admin_lists import ModelAdmin, SafeChangeListMixin
from backoffice.contacts import UniqueContactMixin
from backoffice.models import STAFF_ROLES, Role, Staff, Student, User
from backoffice.people_access import ManagersOnlyPagesMixin, manages_staff
from backoffice.task_schedules import TASK_PATHS, schedule_errors
from bookings.admin.base import BOOKING_STATUS_COLOURS, BookButtonMixin, ReadOnlyInline, RowCheckboxMixin, badge
from bookings.admin.exports import StudentExportResource
from bookings.admin.imports import SpreadsheetImportExportMixin
from bookings.models import Booking, TestResult
from bookings.selectors import feedback_stats, student_stats, with_student_list_stats

ROLE_COLOURS = {Role.MANAGER: "primary", Role.OPERATOR: "info", Role.TUTOR: "success"}


class UserAddForm(UniqueContactMixin, UserCreationForm):
    """Students are added by phone or e-mail; the login name is only needed for staff."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "username" in self.fields:  # the student form leaves it out altogether
            self.fields["username"].required = False
            self.fields["username"].help_text = "Leave empty to use the phone number or e-mail address."

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not (data.get("phone") or data.get("email") or data.get("username")):
            self.add_error("phone", "Enter a phone number or an e-mail address.")
        return data


class StudentAddForm(UserAddForm):
    """A student is added by phone or e-mail alone: they never log in, so they get no password."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("usable_password", "password1", "password2"):
            self.fields.pop(name, None)
        self.instance.role = Role.STUDENT

    def validate_passwords(self, *args: Any, **kwargs: Any) -> None:
        self.cleaned_data["set_usable_password"] = False  # save() then sets an unusable password


class StudentChangeForm(UniqueContactMixin, forms.ModelForm):
    class Meta:
        model = Student
        fields = ("first_name", "last_name", "phone", "email", "is_active")


class UserForm(UniqueContactMixin, UserChangeForm):
    pass


class UserPermissionsMixin:
    """Check the permissions of the User model, also on the pages of its proxies.

    The role groups are granted backoffice.*_user (backoffice.roles); Django would otherwise ask
    for the proxies' own permissions (view_student ...), which no group holds.
    """

    opts: Any

    def _has_user_perm(self, request: HttpRequest, action: str) -> bool:
        opts = self.opts.concrete_model._meta
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")

    def has_view_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return self._has_user_perm(request, "view") or self._has_user_perm(request, "change")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._has_user_perm(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return self._has_user_perm(request, "change")

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return self._has_user_perm(request, "delete")


@admin.register(User)
class UserAdmin(RowCheckboxMixin, ManagersOnlyPagesMixin, BaseUserAdmin, UserPermissionsMixin, ModelAdmin):
    """Every account, staff with their phones and e-mails among them: a manager's pages.

    Operators look after students on the Students pages (StudentAdmin, ``managers_only = False``);
    here they get 403, and a student's page opens as the student's (backoffice.people_access).
    The student pickers still autocomplete through this admin, with students only.
    """

    managers_only = True
    form = UserForm
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
        if not self.opens_pages(request):
            queryset = queryset.filter(role=Role.STUDENT, is_staff=False)  # an operator's picker: students
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Also hides the "add another" button of a form's person field from operators.
        return self.opens_pages(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        allowed = self.opens_pages(request) and super().has_change_permission(request, obj)
        return allowed and self._may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        allowed = self.opens_pages(request) and super().has_delete_permission(request, obj)
        return allowed and self._may_edit(request, obj)

    @display(description="Name", ordering="first_name")
    def full_name(self, obj: User) -> str:
        return obj.get_full_name()


class StudentBookingInline(ReadOnlyInline, TabularInline):
    model = Booking
    fk_name = "student"
    fields = ("booking_link", "session", "status_label", "payment_method", "has_result", "created_at")
    readonly_fields = fields
    verbose_name_plural = "bookings"
    per_page = 10
    show_title = False  # the reference heading each row repeats the first column

    def get_queryset(self, request: HttpRequest) -> QuerySet[Booking]:
        # A session's label names its product and tutor.
        return (
            super()
            .get_queryset(request)
            .select_related("session__product", "session__tutor__user")
            .order_by("-created_at", "-id")
        )

    @display(description="Booking")
    def booking_link(self, obj: Booking) -> str:
        return format_html('<a class="text-primary-600" href="{}">{}</a>', _change_url(obj), obj.reference)

    @display(description="Status")
    def status_label(self, obj: Booking) -> str:
        return badge(obj.get_status_display(), BOOKING_STATUS_COLOURS.get(obj.status))


@admin.register(Student)
class StudentAdmin(BookButtonMixin, SpreadsheetImportExportMixin, UserAdmin):
    """Students: contact details, their figures at a glance, their bookings and results."""

    import_kind = "students"
    export_resource = StudentExportResource
    managers_only = False

    form = StudentChangeForm
    add_form = StudentAddForm
    change_form_template = "admin/backoffice/student/change_form.html"
    list_display = (
        "full_name",
        "phone",
        "email",
        "bookings",
        "upcoming",
        "last_booking",
        "average_overall",
        "best_overall",
    )
    list_filter = ("is_active",)
    search_fields = ("phone", "first_name", "last_name", "email", "username")
    fieldsets = (
        ("Student", {"fields": ("first_name", "last_name", "phone", "email")}),
        ("Record", {"fields": ("is_active", "date_joined")}),
    )
    add_fieldsets = ((None, {"fields": ("first_name", "last_name", "phone", "email")}),)
    inlines = (StudentBookingInline,)
    actions_detail = ("book_session",)

    @action(
        description="Book a session",
        permissions=["book"],  # a tutor cannot add bookings: no button, and a 403 (BookButtonMixin)
        url_path="book-session",
        icon="event_available",
    )
    def book_session(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The add-booking form with this student chosen."""
        student = self.get_object(request, object_id)
        if student is None:
            raise Http404("No such student.")
        return HttpResponseRedirect(f"{reverse('admin:bookings_booking_add')}?student={student.pk}")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Student]:
        return with_student_list_stats(super().get_queryset(request))

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        return ("date_joined",)

    def get_inlines(self, request: HttpRequest, obj: Student | None) -> list:
        return list(self.inlines) if obj is not None else []

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Student | None = None,
    ):
        if obj is not None and change:
            context["profile"] = student_profile(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @display(description="Bookings", ordering="booking_count")
    def bookings(self, obj: Student) -> int:
        return obj.booking_count

    @display(description="Upcoming", ordering="upcoming")
    def upcoming(self, obj: Student) -> str:
        return f"{obj.upcoming} + {obj.upcoming_pending} unpaid" if obj.upcoming_pending else str(obj.upcoming)

    @display(description="Last booking", ordering="last_booked_at")
    def last_booking(self, obj: Student) -> str | None:
        return f"{timezone.localtime(obj.last_booked_at):%d %b %Y}" if obj.last_booked_at else None

    @display(description="Average overall", ordering="average_overall")
    def average_overall(self, obj: Student) -> str | None:
        return _band(obj.average_overall) or None  # None: the list's "-"

    @display(description="Best overall", ordering="best_overall")
    def best_overall(self, obj: Student) -> str | None:
        return _band(obj.best_overall) or None


def student_profile(student: User) -> dict[str, Any]:
    """What the top of a student's page shows: their figures as cards, and their results."""
    stats = student_stats(student)
    feedback = feedback_stats(student)
    results = (
        TestResult.objects.filter(booking__student=student)
        .select_related("booking__session__product")
        .order_by("-test_date", "-created_at", "-id")
    )
    return {
        "cards": [
            {"label": "Tests taken", "value": stats.total_tests},
            {"label": "Average overall", "value": _band(stats.average_overall) or "—"},
            {"label": "Best overall", "value": _band(stats.best_overall) or "—"},
            {
                "label": "Upcoming sessions",
                "value": stats.upcoming + stats.upcoming_pending,
                "note": f"{stats.upcoming_pending} awaiting payment" if stats.upcoming_pending else "",
            },
            {
                "label": "Feedback requests",
                "value": feedback.total,
                "note": f"{feedback.completed} completed, {feedback.open} open",
            },
            {"label": "Feedback average", "value": _band(feedback.average_score) or "—"},
        ],
        "results": {
            "headers": ["Date", "Booking", "Product", "Listening", "Reading", "Writing", "Speaking", "Overall"],
            "rows": [
                [
                    format_html(
                        '<a class="text-primary-600" href="{}">{}</a>', _change_url(r), f"{r.test_date:%d %b %Y}"
                    ),
                    format_html('<a class="text-primary-600" href="{}">{}</a>', _change_url(r.booking), r.booking),
                    r.booking.session.product.name,
                    *(_band(getattr(r, name)) for name in ("listening", "reading", "writing", "speaking")),
                    format_html("<strong>{}</strong>", _band(r.overall)),
                ]
                for r in results
            ],
        },
    }


@admin.register(Staff)
class StaffAdmin(UserAdmin):
    """The people who log in: managers only, since roles and access are decided here."""

    list_display = ("username", "full_name", "role_badge", "phone", "email", "is_active", "last_login")
    list_filter = ("role", "is_active")
    actions = ("unlock_login",)

    def _is_manager(self, request: HttpRequest) -> bool:
        return manages_staff(request.user)

    def has_unlock_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("axes.delete_accessattempt")

    @admin.action(description="Unlock login (after too many wrong passwords)", permissions=["unlock"])
    def unlock_login(self, request: HttpRequest, queryset: QuerySet[Staff]) -> None:
        # django-axes keeps failures per login name and address; resetting the name lifts them all.
        unlocked = [user.username for user in queryset if axes_reset(username=user.username)]
        if unlocked:
            noun = "login" if len(unlocked) == 1 else "logins"
            self.message_user(request, f"Unlocked {len(unlocked)} {noun}: {', '.join(unlocked)}.", messages.SUCCESS)
        else:
            self.message_user(request, "None of the selected logins was locked.", messages.INFO)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._is_manager(request) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return self._is_manager(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._is_manager(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return self._is_manager(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return self._is_manager(request) and super().has_delete_permission(request, obj)

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name == "role":
            kwargs["choices"] = [(role.value, role.label) for role in STAFF_ROLES]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    @display(description="Role", ordering="role")
    def role_badge(self, obj: Staff) -> str:
        return badge(obj.get_role_display(), ROLE_COLOURS.get(obj.role))


def _change_url(obj: Any) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _band(value: Any) -> str:
    return "" if value is None else f"{value:.1f}"


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


# django-q2 and django-axes register their pages with Django's plain ModelAdmin; give them unfold's.
for _model in (q_models.Success, q_models.Failure, q_models.OrmQ, AccessLog, AccessFailureLog):
    if admin.site.is_registered(_model):
        _base = type(admin.site.get_model_admin(_model))
        admin.site.unregister(_model)
        admin.site.register(_model, type(_base.__name__, (SafeChangeListMixin, _base, ModelAdmin), {}))


class ScheduleForm(forms.ModelForm):
    """A schedule runs one of Seatdesk's tasks (a choice, not free text) with literal arguments."""

    class Meta:
        model = q_models.Schedule
        fields = (
            "name",
            "func",
            "hook",
            "args",
            "kwargs",
            "schedule_type",
            "minutes",
            "repeats",
            "next_run",
            "cron",
            "cluster",
            "intended_date_kwarg",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # The hook is not editable here; a schedule saved from this page runs without one.
        self.instance.hook = None
        errors = schedule_errors(func=data.get("func"), hook=None, args=data.get("args"), kwargs=data.get("kwargs"))
        for field, message in errors.items():
            self.add_error(field, message)
        return data


if admin.site.is_registered(q_models.Schedule):
    admin.site.unregister(q_models.Schedule)


@admin.register(q_models.Schedule)
class ScheduleAdmin(QScheduleAdmin, ModelAdmin):
    """The worker imports and calls a schedule's function: adding or changing one is a superuser's
    job (a manager's could run any code on the worker), and the function is one of ours."""

    form = ScheduleForm
    # A hook is a second function the worker calls: shown if one was stored, removed on saving here.
    readonly_fields = ("hook",)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name == "func":
            return forms.ChoiceField(
                label=db_field.verbose_name,
                choices=[("", "---------"), *((path, path) for path in TASK_PATHS)],
                widget=UnfoldAdminSelectWidget,
                help_text="One of Seatdesk's tasks (bookings.tasks).",
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(SafeChangeListMixin, AxesAccessAttemptAdmin, ModelAdmin):
    """Locked logins: failed logins per login name and address (django-axes). Removing a row unlocks it."""

    actions = ["unlock_attempts", "cleanup_expired_attempts"]

    @admin.action(description="Unlock the selected logins", permissions=["delete"])
    def unlock_attempts(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        count = len(queryset)
        queryset.delete()
        self.message_user(request, f"Unlocked {count} login{'s' if count != 1 else ''}.", messages.SUCCESS)
