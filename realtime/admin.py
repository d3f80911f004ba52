"""Notifications: written by realtime.events.publish, read here and through the bell.

A notification is one person's: everyone sees only their own, a superuser everyone's (to look
into a delivery problem). Nothing is typed in here; the only change is marking read -- some
(the list action) or all of one's own (*Mark all read*, on the list and in the bell's menu).
Everything is shown in words (realtime.presentation): the kind, the local time, the event's data,
and a link to the booking (or feedback, or import) for whoever may open it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from unfold.decorators import display

from backoffice.admin_lists import ModelAdmin, SafeChangeListMixin
from realtime import inbox, presentation
from realtime.events import TITLES
from realtime.models import Notification

BELL_ITEMS = 8  # the bell's menu: the newest few; the list has the rest


def sees_everyones(user: Any) -> bool:
    return user.is_superuser


class TypeFilter(admin.SimpleListFilter):
    """The kind of notification, in words ("New booking"), filtering on the stored code."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return sorted(TITLES.items(), key=lambda item: item[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Notification]) -> QuerySet[Notification]:
        return queryset.filter(type=self.value()) if self.value() else queryset


@admin.register(Notification)
class NotificationAdmin(SafeChangeListMixin, ModelAdmin):
    list_display = ("when", "recipient", "notification", "open_link", "read_badge")
    list_select_related = ("recipient",)
    list_filter = ("read", TypeFilter)
    search_fields = ("title", "message")
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("mark_read",)
    fields = ("recipient", "kind", "message", "details", "open_link", "read", "read_at_local", "when")
    readonly_fields = fields
    list_before_template = "admin/realtime/notification/mark_all_read.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        queryset = super().get_queryset(request)
        return queryset if sees_everyones(request.user) else queryset.filter(recipient=request.user)

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        if sees_everyones(request.user):
            return self.list_display
        return tuple(name for name in self.list_display if name != "recipient")

    def get_fields(self, request: HttpRequest, obj: Notification | None = None) -> tuple[str, ...]:
        # One's own notification: naming oneself (a link to a Users page one may not open) says nothing.
        return self.fields if sees_everyones(request.user) else tuple(f for f in self.fields if f != "recipient")

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Notification:
        # Someone else's notification is not there for this person: 404, not a redirect that
        # tells them it exists.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such notification.")
        obj.target = presentation.targets(request, [obj]).get(obj.pk)
        return obj

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        # The page's rows are fetched here once (the template iterates the same queryset) and get
        # their links in one query per kind of target, not one per row.
        rows = list(changelist.result_list)
        found = presentation.targets(request, rows)
        for row in rows:
            row.target = found.get(row.pk)
        return changelist

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("mark-all-read/", wrap(self.mark_all_read_view), name="realtime_notification_mark_all_read"),
            path("bell/", wrap(self.bell_view), name="realtime_notification_bell"),
            *super().get_urls(),
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        # A notification's page only shows it; the one change there is, marking read, is the
        # list action (which asks for this permission without an object).
        return obj is None and super().has_change_permission(request)

    # --- Columns and fields ----------------------------------------------------------------------

    @display(description="When", ordering="created_at")
    def when(self, obj: Notification) -> str:
        return presentation.local_time(obj.created_at)

    @display(description="Read at")
    def read_at_local(self, obj: Notification) -> str:
        return presentation.local_time(obj.read_at) or "—"

    @display(description="Type")
    def kind(self, obj: Notification) -> str:
        return presentation.type_label(obj.type)

    @display(description="Notification")
    def notification(self, obj: Notification) -> SafeString:
        title = obj.title or presentation.type_label(obj.type)
        if not obj.message:
            return format_html("<strong>{}</strong>", title)
        return format_html('<strong>{}</strong><div class="text-subtle">{}</div>', title, obj.message)

    @display(description="Details")
    def details(self, obj: Notification) -> SafeString | str:
        lines = presentation.details(obj)
        if not lines:
            return "—"
        return format_html(
            '<dl class="grid" style="grid-template-columns: max-content 1fr; gap: 0.25rem 1rem">{}</dl>',
            format_html_join("", '<dt class="text-subtle">{}</dt><dd>{}</dd>', lines),
        )

    @display(description="Open")
    def open_link(self, obj: Notification) -> SafeString | str:
        target = getattr(obj, "target", None)
        if target is None:
            return "—"
        return format_html(
            '<a class="font-medium text-primary-600 whitespace-nowrap dark:text-primary-500" href="{}">{}</a>',
            target.url,
            target.label,
        )

    @display(description="Read", ordering="read", label={"unread": "warning", "read": "info"})
    def read_badge(self, obj: Notification) -> tuple[str, str]:
        return ("read", "Read") if obj.read else ("unread", "Unread")

    # --- Marking read ----------------------------------------------------------------------------

    @admin.action(description="Mark selected as read", permissions=["change"])
    def mark_read(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        count = inbox.mark_read(queryset, user_id=request.user.pk)
        if count:
            self.message_user(request, f"{count} notification(s) marked as read.", messages.SUCCESS)
        else:
            self.message_user(request, "None of the selected notifications was yours and unread.", messages.WARNING)

    def mark_all_read_view(self, request: HttpRequest) -> HttpResponse:
        """POST: every unread notification of one's own read; back to ``next`` (the page it came from)."""
        return _mark_all_read(self, request)

    def bell_view(self, request: HttpRequest) -> HttpResponse:
        """The bell's menu (an HTML fragment the realtime client fetches when the bell is opened)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        newest = list(Notification.objects.filter(recipient=request.user).order_by("-pk")[:BELL_ITEMS])
        found = presentation.targets(request, newest)
        items = [
            {
                "notification": n,
                "title": n.title or presentation.type_label(n.type),
                "when": presentation.local_time(n.created_at),
                "target": found.get(n.pk),
                "url": reverse("admin:realtime_notification_change", args=[n.pk]),
            }
            for n in newest
        ]
        changelist = reverse("admin:realtime_notification_changelist")
        return TemplateResponse(
            request,
            "admin/realtime/notification/bell_menu.html",
            {
                "items": items,
                "unread": inbox.unread_count(request.user.pk),
                "all_link": f"{changelist}?recipient__id__exact={request.user.pk}",
                "next": request.GET.get("next", ""),
            },
        )


def _mark_all_read(model_admin: NotificationAdmin, request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    count = inbox.mark_all_read(user_id=request.user.pk)
    noun = "notification" if count == 1 else "notifications"
    model_admin.message_user(
        request, f"{count} {noun} marked as read." if count else "Nothing was unread.", messages.SUCCESS
    )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("admin:realtime_notification_changelist")
    return HttpResponseRedirect(back)
