"""What every Seatdesk admin shares: service-backed add forms, tutor scoping, status colours.

The rule these pieces enforce: business fields are written by ``bookings.services`` only. An add
form that creates a booking, a payment or a result validates its input, then calls the service as
the last step of validation; a domain error becomes a form error, and the admin is handed the
object the service wrote instead of saving one itself.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from backoffice.models import Role
from bookings.errors import BookingError
from bookings.models import (
    Booking,
    BookingStatus,
    PaymentStatus,
    ReminderStatus,
    SessionStatus,
    Tutor,
)
from bookings.services import sql

# Colours of status badges (unfold's ``@display(label=...)``); a status not listed is grey.
BOOKING_STATUS_COLOURS = {
    BookingStatus.PENDING: "warning",
    BookingStatus.CONFIRMED: "success",
    BookingStatus.COMPLETED: "info",
    BookingStatus.NO_SHOW: "danger",
}
SESSION_STATUS_COLOURS = {
    SessionStatus.OPEN: "success",
    SessionStatus.CLOSED: "warning",
    SessionStatus.CANCELLED: "danger",
}
PAYMENT_STATUS_COLOURS = {
    PaymentStatus.PAID: "success",
    PaymentStatus.PENDING: "warning",
    PaymentStatus.REFUNDED: "info",
    PaymentStatus.FAILED: "danger",
}
REMINDER_STATUS_COLOURS = {
    ReminderStatus.SENT: "success",
    ReminderStatus.PENDING: "info",
    ReminderStatus.FAILED: "danger",
}

# The lookups from a booking to its student, shared by every list that searches by student.
STUDENT_SEARCH = ("phone", "first_name", "last_name", "email")


def student_search_fields(prefix: str) -> tuple[str, ...]:
    """``search_fields`` entries for a student reached through ``prefix`` (``booking__student``)."""
    return tuple(f"{prefix}__{name}" for name in STUDENT_SEARCH)


def sees_own_only(user: Any) -> bool:
    """Tutors see their own sessions, bookings and results; the people who run the centre see all."""
    return getattr(user, "role", None) == Role.TUTOR and not user.is_superuser


def money(amount: Any, currency: str) -> str:
    return f"{amount:,.0f} {currency}"


class ServiceForm(forms.ModelForm):
    """An add or change form whose write is one service call, made as the very last step of validation.

    Calling the service from ``full_clean`` (after every field check passed) rather than from
    ``ModelAdmin.save_model`` is what lets a domain error (session full, already booked ...) reach
    the form as an error message: an exception in ``save_model`` would be a server error. When
    the service refuses, its own transaction has rolled back, so nothing is written.
    """

    # The user making the request, recorded as the actor; set per request by ServiceAddMixin.
    actor: Any = None

    def perform(self) -> Model:
        """Call the service with ``self.cleaned_data`` and return what it wrote."""
        raise NotImplementedError

    def full_clean(self) -> None:
        super().full_clean()
        if not self.is_bound or self.errors:
            return
        try:
            self.result = self.perform()
        except BookingError as exc:
            # Shown on the field the refusal names (SessionChangeRefused.field), when the form has it.
            field = getattr(exc, "field", None)
            self.add_error(field if field in self.fields else None, exc.message)

    def _post_clean(self) -> None:
        # The service checks and builds the object itself; validating the half-built instance
        # here as well would duplicate that (and some model clean() methods need relations the
        # form has not got yet).
        pass

    def save(self, commit: bool = True) -> Model:
        self.save_m2m = lambda: None  # the service wrote everything there is
        return self.result


class ServiceAddMixin:
    """For admins whose add form is a ServiceForm (``add_form``)."""

    add_form: type[ServiceForm]

    def get_form(self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any):
        if obj is None:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            # modelform_factory made a new class for this request, so this stays per request.
            form.actor = request.user
        return form

    def get_inlines(self, request: HttpRequest, obj: Model | None) -> list:
        # Inlines show what services wrote for an existing object; an add form has none yet.
        return super().get_inlines(request, obj) if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Model, form: forms.ModelForm, change: bool) -> None:
        if not change:
            return  # the service called by the add form has saved it
        super().save_model(request, obj, form, change)


class ReadOnlyChangeMixin:
    """Change pages that only show business fields: no Save buttons, and a POST writes nothing."""

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ):
        extra_context = {
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Model, form: forms.ModelForm, change: bool) -> None:
        # Never obj.save() here: it would write back every column as read at the start of the
        # request, undoing a status change a service made meanwhile. Services have saved it.
        return


class ReadOnlyInline:
    """Inline rows that are history or service output: shown, never added, edited or deleted."""

    extra = 0
    max_num = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class LargeTablePaginator(Paginator):
    """Counts a filtered list exactly, and a large unfiltered table from PostgreSQL's statistics.

    ``show_full_result_count = False`` drops the admin's second count, but the paginator still
    counts every row on each page load, a cost that grows with the centre's history (~90 ms at a
    million bookings). Unfiltered, past 10,000 rows, the planner's estimate is shown instead (kept
    fresh by autovacuum; "about" is fine for the number of pages). One statement either way, so
    the page's query count does not depend on the table's size.
    """

    ESTIMATE_FROM = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if queryset.query.where or connection.vendor != "postgresql":
            return super().count
        return sql.table_count(queryset.model, estimate_from=self.ESTIMATE_FROM, using=queryset.db)


def parse_pk(model: type[Model], value: Any) -> Any:
    """``value`` as ``model``'s primary key, or None when it cannot be one ("abc", "1.5", a NUL byte)."""
    try:
        return model._meta.pk.to_python(value)
    except (ValidationError, ValueError, OverflowError):
        return None


def object_or_404(queryset: QuerySet, object_id: Any) -> Model:
    """The row ``object_id`` names in ``queryset``; a 404 when it is missing, out of reach or no id at all."""
    pk = parse_pk(queryset.model, object_id)
    try:
        if pk is None:
            raise queryset.model.DoesNotExist
        return queryset.get(pk=pk)
    except ObjectDoesNotExist:
        raise Http404(f"No {queryset.model._meta.verbose_name} with that id.") from None


def tutor_choices(request: HttpRequest) -> QuerySet[Tutor]:
    # select_related: a tutor's label is its user's name, one query per option otherwise.
    tutors = Tutor.objects.select_related("user")
    if sees_own_only(request.user):
        tutors = tutors.filter(user=request.user)
    return tutors


class TutorScopedMixin:
    """A tutor sees only rows of their own sessions; ``tutor_user_lookup`` leads to the tutor's user.

    Also narrows the tutor and booking choices of a tutor's forms, so a tutor cannot post an id
    that is not theirs.
    """

    tutor_user_lookup: str = ""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if sees_own_only(request.user):
            queryset = queryset.filter(**{self.tutor_user_lookup: request.user})
        return queryset

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Model | None:
        obj = super().get_object(request, object_id, from_field)
        if obj is None and sees_own_only(request.user):
            # Django would redirect to the index with "does not exist"; another tutor's row is a
            # plain 404, the same answer as for a row that does not exist at all.
            raise Http404("No such record among yours.")
        return obj

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.related_model is Tutor:
            kwargs.setdefault("queryset", tutor_choices(request))
        elif db_field.related_model is Booking and sees_own_only(request.user):
            kwargs.setdefault("queryset", Booking.objects.filter(session__tutor__user=request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def tutor_filter(lookup: str) -> type[admin.SimpleListFilter]:
    """A "by tutor" list filter for rows reaching a Tutor through ``lookup``.

    Django's own related-field filter would label each tutor with a query for its user.
    """

    class TutorFilter(admin.SimpleListFilter):
        title = "tutor"
        parameter_name = "tutor"

        def __init__(self, request: HttpRequest, params: dict, model: type[Model], model_admin: Any) -> None:
            super().__init__(request, params, model, model_admin)
            value = self.value()
            if value and parse_pk(Tutor, value) is None:
                # A hand-edited or stale link: show the whole list and say why, rather than fail.
                del self.used_parameters[self.parameter_name]
                messages.warning(request, f"“{value}” is not a tutor: the tutor filter was cleared.")

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[int, str]]:
            if sees_own_only(request.user):
                return []  # a tutor's lists hold only their own rows already
            return [(tutor.pk, str(tutor)) for tutor in Tutor.objects.select_related("user")]

        def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
            if self.value():
                return queryset.filter(**{f"{lookup}__pk": self.value()})
            return queryset

    return TutorFilter
