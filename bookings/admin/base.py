"""What every Seatdesk admin shares: service-backed forms, tutor scoping, status colours.

The rule these pieces enforce: business fields are written by ``bookings.services`` only. A
``ServiceForm`` (adding a booking, a payment, a result, a session ...) validates its input without
writing anything; when the admin saves it, its one service call writes, and a domain error from
that call is shown as the form's error with nothing written.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.sites import NotRegistered
from django.contrib.admin.utils import quote
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.db import connections, router, transaction
from django.db.models import DateTimeField, Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from unfold.admin import checkbox as unfold_checkbox
from unfold.contrib.filters.admin import DropdownFilter
from unfold.decorators import display

from backoffice.lean import lean_fragment
from backoffice.models import Role, User
from bookings.errors import BookingError
from bookings.models import (
    Booking,
    BookingStatus,
    PaymentStatus,
    ReminderStatus,
    Session,
    SessionStatus,
    Tutor,
)
from bookings.models.history import shown_at
from bookings.selectors import viewer_timezone, zone_label
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


def sees_own_only(user: User | AnonymousUser) -> bool:
    """Tutors see their own sessions, bookings and results; the people who run the centre see all."""
    return getattr(user, "role", None) == Role.TUTOR and not user.is_superuser


# --- Cells drawn with unfold's own templates, rendered once ---------------------------------------
# A list of 100 rows shows a handful of distinct badges and ticks; rendering unfold's template for
# every cell (what ``@display(label=...)`` and a BooleanField column do) was a fifth of the bookings
# list's Python time (bench/admin_changelist.py). The markup is unfold's; each distinct one is
# rendered once per language.


@lru_cache(maxsize=512)
def _rendered(template: str, language: str | None, **context: Any) -> SafeString:
    # The template escapes what it is given; lean_fragment changes only whitespace and class lists.
    return mark_safe(lean_fragment(render_to_string(template, context)))


def badge(text: Any, colour: str | None = None, *, size: str = "") -> SafeString:
    """unfold's label badge: ``text`` on ``colour`` ("success", "warning", "danger", "info", grey)."""
    return _rendered("unfold/helpers/label.html", get_language(), text=str(text), type=colour or "", size=size)


def yes_no(value: bool | None) -> SafeString:
    """unfold's tick, cross or unknown mark of a boolean column."""
    return _rendered("unfold/helpers/boolean.html", get_language(), value=value)


def two_lines(first: Any, second: Any) -> SafeString:
    """A name over its detail, as unfold's ``header`` column draws it (without the avatar); the name
    alone when there is no detail. The classes are aliases of unfold's (backoffice/lean.py)."""
    if second in (None, ""):
        return format_html('<span class="sd-two-lines"><strong class="sd-first-line">{}</strong></span>', first)
    return format_html(
        '<span class="sd-two-lines"><strong class="sd-first-line">{}</strong>'
        '<span class="text-base-500">{}</span></span>',
        first,
        second,
    )


@lru_cache(maxsize=8)
def _row_checkbox_parts(language: str | None) -> tuple[str, str]:
    head, tail = unfold_checkbox.render(ACTION_CHECKBOX_NAME, PK_MARK).split(PK_MARK)
    return head, tail


PK_MARK = "__row_pk__"


class RowCheckboxMixin:
    """The list's row checkbox as unfold draws it, rendered once and filled with each row's id:
    unfold renders its checkbox widget's template for every row, 17 % of the bookings list's time
    (bench/admin_pages.py, cProfile)."""

    @display(description=mark_safe(unfold_checkbox.render("action_toggle_all", 1)))
    def action_checkbox(self, obj: Model) -> SafeString:
        head, tail = _row_checkbox_parts(get_language())
        return mark_safe(f"{head}{escape(str(obj.pk))}{tail}")  # unfold's markup around an escaped id


def money(amount: Any, currency: str) -> str:
    return f"{amount:,.0f} {currency}"


def student_header(student: User) -> list[str]:
    """Name over phone (or e-mail): what staff read out when a student calls."""
    return [str(student), student.phone_display or student.email]


def viewer_time(request: HttpRequest, moment: datetime | None) -> str:
    """``moment`` on the viewer's clock in the one format ("Wed 09 Dec 2026 14:00"), labelled with the
    zone when it is not the centre's ("Wed 09 Dec 2026 09:00 Europe/London")."""
    tz = viewer_timezone(request.user)
    label = zone_label(tz)
    return f"{shown_at(moment, tz)} {label}" if label and moment is not None else shown_at(moment, tz)


# --- Links only where the viewer may follow them -----------------------------------------------------


def admin_link(request: HttpRequest, obj: Model | None) -> str:
    """``obj`` as a link to its admin page when ``request.user`` may view it there; its name otherwise.

    A tutor who follows a link to a student or a colleague's account gets a bare 403: such values
    are plain text for them. Every column or field that links to another admin page uses this.
    """
    if obj is None:
        return "–"
    name = viewer_label(request, obj)
    try:
        model_admin = admin.site.get_model_admin(type(obj))
    except NotRegistered:
        return name
    if not model_admin.has_view_permission(request, obj):
        return name
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
    return format_html('<a href="{}" class="text-link">{}</a>', url, name)


def viewer_label(request: HttpRequest, obj: Model) -> str:
    """``obj``'s name; a session's with its start on the viewer's clock ("… Wed 09 Dec 2026 09:00 Europe/London")."""
    if isinstance(obj, Session):
        tutor = f" · {obj.tutor}" if obj.tutor_id else ""
        return f"{obj.product} · {viewer_time(request, obj.starts_at)}{tutor}"
    return str(obj)


def _linked_fields(request: HttpRequest, model: type[Model], names: Any) -> dict[str, Any]:
    """For the read-only fields among ``names``, drawn for this viewer: each foreign key through
    ``admin_link``, and each date-time on the viewer's clock when it is not the centre's."""
    other_zone = bool(zone_label(viewer_timezone(request.user)))
    linked = {}
    for name in names:
        if not isinstance(name, str):
            continue
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if field.is_relation and (field.many_to_one or field.one_to_one) and field.concrete:

            def shown(obj: Model, _name: str = name) -> str:
                return admin_link(request, getattr(obj, _name))

        elif other_zone and isinstance(field, DateTimeField):

            def shown(obj: Model, _name: str = name) -> str:
                return viewer_time(request, getattr(obj, _name)) if getattr(obj, _name) else "–"

        else:
            continue
        shown.__name__ = name  # its CSS class and help text stay the field's
        shown.short_description = field.verbose_name
        linked[name] = shown
    return linked


def _swap(fields: Any, linked: dict[str, Any]) -> Any:
    if isinstance(fields, (list, tuple)):
        return type(fields)(_swap(name, linked) for name in fields)
    return linked.get(fields, fields) if isinstance(fields, str) else fields


class PermittedLinksMixin:
    """A change page's read-only related objects (student, created by, product, tutor ...) link to
    their admin pages only for a viewer who may open them there (``admin_link``): plain text otherwise.

    ``viewer_fields`` may give other read-only fields drawn for this viewer (times on their clock).
    """

    def viewer_fields(self, request: HttpRequest) -> dict[str, Any]:
        """Read-only fields by name, drawn for ``request``'s viewer: functions of the object."""
        return {}

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Model | None = None,
    ) -> HttpResponse:
        adminform = context.get("adminform")
        if adminform is not None and obj is not None:
            linked = _linked_fields(request, self.model, adminform.readonly_fields)
            linked.update(self.viewer_fields(request))
            adminform.readonly_fields = _swap(list(adminform.readonly_fields), linked)
            adminform.fieldsets = [
                (name, {**options, "fields": _swap(options.get("fields", ()), linked)})
                for name, options in adminform.fieldsets
            ]
        return super().render_change_form(request, context, add, change, form_url, obj)


class ServiceForm(forms.ModelForm):
    """An add or change form whose write is one service call (``perform``), made when the admin saves.

    ``is_valid()`` checks the input and writes nothing. ``ServiceFormMixin`` saves the form once it
    and the page's inlines are valid: ``save()`` calls the service and hands the admin the object
    the service wrote. A refusal (session full, already booked ...) rolls the admin's transaction
    back, and the page is drawn again with the refusal as the form's error.
    """

    # The user making the request, recorded as the actor, and the service's refusal when the page
    # is drawn again after one; both set per request by ServiceFormMixin.get_form.
    actor: User | None = None
    refusal: BookingError | None = None

    def perform(self) -> Model:
        """Call the service with ``self.cleaned_data`` and return what it wrote."""
        raise NotImplementedError

    def full_clean(self) -> None:
        super().full_clean()
        if self.is_bound and self.refusal is not None and not self.errors:
            # Shown on the field the refusal names (SessionChangeRefused.field), when the form has it.
            field = getattr(self.refusal, "field", None)
            self.add_error(field if field in self.fields else None, self.refusal.message)

    def _post_clean(self) -> None:
        # The service checks and builds the object itself; validating the half-built instance
        # here as well would duplicate that (and some model clean() methods need relations the
        # form has not got yet).
        pass

    def save(self, commit: bool = True) -> Model:
        """Make the service call: its write is the save, whatever ``commit`` says (the admin passes False)."""
        result = self.perform()
        self.save_m2m = lambda: None  # the service wrote everything there is
        return result


class ServiceFormMixin:
    """For admins whose forms are ServiceForms: ``add_form`` for the add page, ``form`` for both.

    A POST that ends on the form again (an error in the form or an inline, or the service's
    refusal) writes nothing: its transaction is rolled back.
    """

    add_form: type[ServiceForm] | None = None

    def get_form(self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any):
        if obj is None and self.add_form is not None:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, change=change, **kwargs)
        if issubclass(form, ServiceForm):
            # modelform_factory made a new class for this request, so these stay per request.
            form.actor = request.user
            form.refusal = getattr(request, "service_refusal", None)
        return form

    def get_inlines(self, request: HttpRequest, obj: Model | None) -> list:
        # Inlines show what services wrote for an existing object; an add form has none yet.
        return super().get_inlines(request, obj) if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Model, form: forms.ModelForm, change: bool) -> None:
        if isinstance(form, ServiceForm):
            return  # its save() was the service call, which has saved the object
        super().save_model(request, obj, form, change)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
                response = super().changeform_view(request, object_id, form_url, extra_context)
                if not isinstance(response, HttpResponseRedirect):
                    # Drawn again: the form or an inline had an error. The form's service call
                    # may have succeeded before an inline failed; undo it, so a save is whole.
                    transaction.set_rollback(True)
            return response
        except BookingError as refusal:
            # The service refused and its write was rolled back. Draw the same form again with
            # the refusal as its error (ServiceForm.full_clean); nothing is performed this time.
            request.service_refusal = refusal
            return super().changeform_view(request, object_id, form_url, extra_context)


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


class BookButtonMixin:
    """ "Book a student" / "Book a session" buttons: shown to whoever may add bookings (never a tutor).

    unfold's ``permissions=["book"]`` asks ``has_book_permission``; a dotted permission name there
    would make unfold's system check query the permissions table, which breaks ``makemigrations
    --check`` on a database not migrated yet.
    """

    def has_book_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("bookings.add_booking")


class ReadOnlyInline:
    """Inline rows that are history or service output: shown, never added, edited or deleted; 20 a
    page (unfold's paginated inline), so a page stays light whatever the count: a sitting's 80
    bookings made its page 401 KB and 17x a plain Django page (bench/admin_pages.py)."""

    per_page = 20
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
    estimated = False  # whether ``count`` is the planner's estimate

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if queryset.query.where or connection.vendor != "postgresql":
            return super().count
        count = sql.table_count(queryset.model, estimate_from=self.ESTIMATE_FROM, using=queryset.db)
        self.estimated = count >= self.ESTIMATE_FROM
        return count


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


class TutorScopedMixin(PermittedLinksMixin):
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
    """A "by tutor" list filter for rows reaching a Tutor through ``lookup``: a drop-down, submitted
    with the list's other filters (its admin sets ``list_filter_submit``).

    Django's own related-field filter would label each tutor with a query for its user; a list of
    links, one per tutor, weighed 55 KB of every list page at 160 tutors (bench/admin_pages.py).
    """

    class TutorFilter(DropdownFilter):
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
