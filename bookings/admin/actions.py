"""Admin actions: every action page in the back office is an ``ActionForm`` run by ``ActionAdminMixin``.

An action form says what the action asks for (its fields), where it is offered (``offered_for``),
the service call it makes (``perform_on``) and what it reports (``success_message``). The mixin
runs every form the same way, for one object (a button on its page or a row link) or for the
objects picked in a list:

- a GET, or the list's first POST, shows the action's page and changes nothing;
- the page's own POST (CSRF-checked; a list action's carries ``confirm=yes``) validates the form,
  and a valid one calls ``perform``;
- for one object, a ``BookingError`` or ``ValidationError`` from the service becomes the form's
  error and the page is shown again -- the service's own transaction has rolled back, so nothing
  is written; for many, each object is its own service call and transaction, so a refusal is
  reported and stops no other.

The page is ``templates/admin/action_form.html``, single and bulk alike; a model's template (the
admin's ``action_template``) extends it to show its objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html_join
from unfold.dataclasses import ActionDialog

from bookings.errors import BookingError

if TYPE_CHECKING:
    from backoffice.models import User

GENERIC_TEMPLATE = "admin/action_form.html"

# What a message the admin shows is: its level (django.contrib.messages) and its text.
Report = list[tuple[int, str]]


@dataclass
class BulkOutcome:
    """What a list action did: the objects done with each service's result, and the refusals."""

    done: list[tuple[Any, Any]] = field(default_factory=list)
    refused: list[tuple[Any, BookingError]] = field(default_factory=list)

    @property
    def objects(self) -> list[Any]:
        return [obj for obj, _ in self.done]


class ActionForm(forms.Form):
    """One admin action: its input, the objects it is offered for and the service call it makes.

    Built with ``objects`` (one for a page or row action, the picked rows for a list action, then
    ``bulk=True``). Subclasses set the texts, add fields, and implement ``perform_on`` and
    ``success_message``; a list action's message is ``bulk_message``.
    """

    title: str = ""
    description: str = ""
    submit_label: str = ""
    submit_variant: str = "primary"  # unfold's button colour; "danger" for what cannot be undone
    # The list action's texts, when they differ from the one-object page's.
    bulk_title: ClassVar[str] = ""
    bulk_description: ClassVar[str] = ""
    bulk_submit_label: ClassVar[str] = ""
    # A list action shows its page first; one with nothing to ask and nothing to show acts at once.
    ask_first: ClassVar[bool] = True
    # "{count} {noun}(s) {done}: {labels}." -- the default message of a list action.
    noun: ClassVar[str] = "item"
    done: ClassVar[str] = "done"

    def __init__(self, data: Any = None, *, objects: Sequence[Any], bulk: bool = False, **kwargs: Any) -> None:
        self.objects = list(objects)
        self.bulk = bulk
        super().__init__(data, **kwargs)

    @property
    def target(self) -> Any:
        """The object of a one-object action."""
        return self.objects[0]

    @property
    def page_title(self) -> str:
        return (self.bulk and self.bulk_title) or self.title

    @property
    def page_description(self) -> str:
        return (self.bulk and self.bulk_description) or self.description

    @property
    def page_submit_label(self) -> str:
        return (self.bulk and self.bulk_submit_label) or self.submit_label

    @classmethod
    def offered_for(cls, obj: Any) -> bool:
        """Whether the object's page offers this action. The service still has the last word."""
        return True

    def perform(self, actor: User | None) -> Any:
        """Call the service: once for a one-object action, once per object for a list action."""
        if not self.bulk:
            return self.perform_on(self.target, actor)
        outcome = BulkOutcome()
        for obj in self.objects:
            try:
                outcome.done.append((obj, self.perform_on(obj, actor)))
            except BookingError as exc:
                outcome.refused.append((obj, exc))
        return outcome

    def perform_on(self, obj: Any, actor: User | None) -> Any:
        """The service call for one object; returns what to report (and, on a page, where to go next)."""
        raise NotImplementedError

    def success_message(self, result: Any) -> str:
        raise NotImplementedError

    def bulk_message(self, outcome: BulkOutcome) -> str:
        labels = ", ".join(self.label(obj) for obj in outcome.objects)
        return f"{len(outcome.done)} {self.noun}(s) {self.done}: {labels}."

    def label(self, obj: Any) -> str:
        return str(obj)

    def report(self, result: Any) -> Report:
        """The messages shown after the action ran."""
        if isinstance(result, BulkOutcome):
            shown = [(messages.ERROR, exc.message) for _, exc in result.refused]
            if result.done:
                shown.append((messages.SUCCESS, self.bulk_message(result)))
            return shown
        return [(messages.SUCCESS, self.success_message(result))]

    def page_context(self) -> dict[str, Any]:
        """What the model's action template shows besides the form (its table of objects)."""
        return {}

    def refuse(self, error: BookingError | ValidationError) -> None:
        """Show the service's refusal on the form: on the field it names, when the form has it."""
        if isinstance(error, ValidationError):
            self.add_error(None, error)
            return
        name = getattr(error, "field", None)
        self.add_error(name if name in self.fields else None, error.message)


def log_admin_change(actor: User | None, objects: Iterable[Model], message: str, *, flag: int = CHANGE) -> None:
    """An entry in the admin's own log ("Recent actions", the object's history) for each object."""
    objects = list(objects)
    if actor is None or actor.pk is None or not objects:
        return
    LogEntry.objects.log_actions(user_id=actor.pk, queryset=objects, action_flag=flag, change_message=message)


def in_modal(view: Callable) -> Callable:
    """Let unfold open an action's page in its modal: htmx loads the page and keeps its #dialog.

    Set after ``@action`` on purpose: given to ``@action``, unfold would render its own bare form
    instead of the action's page, which also works without scripts and shows the service's errors.
    """
    view.dialog = ActionDialog(title=view.short_description)
    return view


class ActionAdminMixin:
    """Runs ``ActionForm``s for a ModelAdmin: ``run_action`` for one object, ``run_bulk_action`` for a list.

    ``row_links`` (action name -> its form) draws the list's "Actions" column: an icon link to each
    action the person may run and the row's state allows (the form's ``offered_for``), opening the
    action's page. A few microseconds a row, where unfold's row menu (``actions_row``) renders a
    template per row: the feedback list was 2.9x a plain Django list with it (bench/admin_pages.py).
    """

    action_template: str = GENERIC_TEMPLATE
    row_links: ClassVar[dict[str, type[ActionForm]]] = {}

    def get_list_display(self, request: HttpRequest) -> Sequence[Any]:
        display = tuple(super().get_list_display(request))  # type: ignore[misc]
        names = tuple(name for name in self.row_links if self.may_run(request, name))
        if not names:
            return display

        def actions(obj: Model) -> str:
            return self.action_links(obj, names)

        actions.short_description = "Actions"  # type: ignore[attr-defined]
        return (*display, actions)

    def may_run(self, request: HttpRequest, name: str) -> bool:
        """The action's ``permissions`` (unfold's ``@action``) as unfold checks them: a dotted one is the
        user's permission, any other its admin's ``has_<name>_permission(request)``."""
        return all(
            request.user.has_perm(permission)
            if "." in permission
            else getattr(self, f"has_{permission}_permission")(request)
            for permission in getattr(getattr(self, name), "allowed_permissions", ())
        )

    def action_links(self, obj: Model, names: Iterable[str]) -> str:
        links = []
        for name in names:
            form = self.row_links[name]
            if form.offered_for(obj):  # decided on the row as loaded: no query per row
                links.append(
                    (f"{obj.pk}{self.action_url_parts[name]}", form.title.rstrip("?"), getattr(self, name).icon)
                )
        # The icon's ligature ("check_circle") is hidden from screen readers; the action's title names
        # the link, for them and for the mouse (with an aria-label too, they heard the name twice).
        # A list shows hundreds of these: addresses relative to the list's own ("19995/cancel/" on
        # /admin/bookings/booking/), the classes aliases of unfold's (backoffice/lean.py).
        return format_html_join(
            "",
            '<a href="{0}" title="{1}" class="sd-row-action"><i class="sd-icon-18" aria-hidden="true">{2}</i></a>',
            links,
        )

    @cached_property
    def action_url_parts(self) -> dict[str, str]:
        """Each row action's URL after the object's id, relative to the list ("/cancel/"): one
        reverse() per action, not per link."""
        opts = self.opts  # type: ignore[attr-defined]
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        parts = {}
        for name in self.row_links:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=[0])
            assert url.startswith(f"{changelist}0/")
            parts[name] = url.removeprefix(f"{changelist}0")
        return parts

    def run_action(self, request: HttpRequest, object_id: str, form_class: type[ActionForm]) -> HttpResponse:
        """GET shows the action's page; a valid POST calls its service and returns to the object."""
        obj = self.get_object(request, unquote(object_id))  # the admin's (tutor-scoped) queryset
        if obj is None:
            raise Http404(f"No such {self.opts.verbose_name}.")
        form = form_class(request.POST if request.method == "POST" else None, objects=[obj])
        if form.is_bound and (result := self.perform_action(request, form)) is not None:
            return self.done_response(request, self.action_done_url(obj, result))
        return self.render_action_page(request, form, back_url=self.object_url(obj))

    def run_bulk_action(
        self, request: HttpRequest, queryset: QuerySet, form_class: type[ActionForm]
    ) -> HttpResponse | None:
        """A list action: its page first (the rows and the question), then, on that page's POST, the services."""
        objects = list(queryset)
        if not objects:  # ids this user may not see are dropped by the scoped queryset
            self.message_user(request, f"No {self.opts.verbose_name_plural} selected.", messages.WARNING)
            return None
        asked = request.POST.get("confirm") == "yes" or not form_class.ask_first
        form = form_class(request.POST if asked else None, objects=objects, bulk=True)
        if form.is_bound and self.perform_action(request, form) is not None:
            return None  # back to the list, filters and all, with the messages
        hidden = [("action", request.POST.get("action", "")), *((ACTION_CHECKBOX_NAME, obj.pk) for obj in objects)]
        # A list action is posted to the list's own URL, filters and all: "back" returns to that list.
        return self.render_action_page(request, form, back_url=request.get_full_path(), hidden=hidden)

    def perform_action(self, request: HttpRequest, form: ActionForm) -> Any:
        """Validate and perform; the result, or None when the form (or the service) refused."""
        if not form.is_valid():
            return None
        try:
            result = form.perform(actor=request.user)
        except (BookingError, ValidationError) as exc:
            form.refuse(exc)
            return None
        for level, text in form.report(result):
            self.message_user(request, text, level)
        return result

    def action_done_url(self, obj: Model, result: Any) -> str:
        """Where a one-object action goes next: the page of what the service returned (a new
        booking after a reschedule) when it is one of this admin's objects, else the object's."""
        if isinstance(result, self.model) and result.pk is not None:
            return self.object_url(result)
        return self.object_url(obj)

    def done_response(self, request: HttpRequest, url: str) -> HttpResponse:
        if request.headers.get("HX-Request"):  # a page loaded by htmx (unfold's dialog) follows this header
            return HttpResponse(headers={"HX-Redirect": url})
        return HttpResponseRedirect(url)

    def object_url(self, obj: Model) -> str:
        return reverse(f"{self.admin_site.name}:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])

    def render_action_page(
        self,
        request: HttpRequest,
        form: ActionForm,
        *,
        back_url: str,
        hidden: Iterable[tuple[str, Any]] = (),
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": None if form.bulk else form.target,
            "title": form.page_title,
            "description": form.page_description,
            "submit_label": form.page_submit_label,
            "submit_variant": form.submit_variant,
            "form": form,
            "objects": form.objects,
            "bulk": form.bulk,
            "hidden": list(hidden),
            "action_url": request.get_full_path(),
            "back_url": back_url,
            **form.page_context(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.action_template, context)
