"""Reminders: scheduled by the booking services, sent by tasks. Shown here with their delivery
(status, attempts, last error); "Send again" is the one thing staff do, through the sending service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.text import Truncator
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from backoffice.admin_lists import SafeChangeListMixin
from bookings.admin.base import REMINDER_STATUS_COLOURS, student_search_fields
from bookings.models import Reminder
from bookings.services.reminders import DispatchReport, send_again

SEND_AGAIN_TEMPLATE = "admin/bookings/reminder/send_again.html"


@admin.register(Reminder)
class ReminderAdmin(SafeChangeListMixin, ModelAdmin):
    list_display = (
        "scheduled_at",
        "booking",
        "recipient",
        "channel",
        "kind",
        "status_badge",
        "attempts",
        "sent_at",
        "error",
    )
    list_select_related = ("booking", "recipient")
    list_filter = ("status", "channel", "kind")
    search_fields = ("booking__reference", *student_search_fields("recipient"))
    date_hierarchy = "scheduled_at"
    show_full_result_count = False
    fields = (
        "booking",
        "recipient",
        "channel",
        "kind",
        "scheduled_at",
        "status",
        "attempts",
        "sent_at",
        "claimed_at",
        "next_attempt_at",
        "last_error",
        "created_at",
    )
    readonly_fields = fields
    actions = ("send_again_selected",)
    actions_row = ("send_again_one",)
    actions_detail = ("send_again_one",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reminder | None = None) -> bool:
        return False

    def has_send_again_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # The rows themselves stay read-only; the right to change reminders is the right to resend.
        return request.user.has_perm("bookings.change_reminder")

    @display(description="Status", ordering="status", label=REMINDER_STATUS_COLOURS)
    def status_badge(self, obj: Reminder) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    @display(description="Last error")
    def error(self, obj: Reminder) -> str:
        return Truncator(obj.last_error).chars(60)

    # --- Send again ------------------------------------------------------------------------------

    @action(description="Send selected reminders again", permissions=["send_again"])
    def send_again_selected(self, request: HttpRequest, queryset: QuerySet[Reminder]) -> None:
        self._report(request, send_again(list(queryset), actor=request.user))

    @action(description="Send again", icon="send", permissions=["send_again"], url_path="send-again")
    def send_again_one(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET asks; only the confirming POST (with its CSRF token) sends."""
        reminder = self.get_object(request, unquote(object_id))
        if reminder is None:
            raise Http404("No such reminder.")
        back = reverse("admin:bookings_reminder_change", args=[reminder.pk])
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            self._report(request, send_again([reminder], actor=request.user))
            return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": reminder,
            "reminder": reminder,
            "title": "Send reminder again",
            "back_url": back,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, SEND_AGAIN_TEMPLATE, context)

    def _report(self, request: HttpRequest, report: DispatchReport) -> None:
        for refusal in report.refused:
            self.message_user(request, refusal, messages.ERROR)
        if report.sent:
            self.message_user(request, f"{report.sent} reminder(s) sent again.", messages.SUCCESS)
        if report.failed:
            self.message_user(
                request,
                f"{report.failed} reminder(s) failed again: see their last error.",
                messages.WARNING,
            )
        if report.skipped:
            self.message_user(request, f"{report.skipped} reminder(s) no longer wanted: cancelled.", messages.WARNING)
