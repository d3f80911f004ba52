"""Reminders: scheduled by the booking services, sent by tasks. Shown here with their delivery
(status, attempts, last error); "Send again" is the one thing staff do, through the sending service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.text import Truncator
from unfold.decorators import action, display

from backoffice.admin_lists import ModelAdmin, SafeChangeListMixin
from backoffice.models import User
from bookings.admin.actions import ActionAdminMixin, ActionForm, Report
from bookings.admin.base import REMINDER_STATUS_COLOURS, RowCheckboxMixin, badge, student_search_fields
from bookings.models import Reminder
from bookings.services.reminders import DispatchReport, send_again


class SendAgainForm(ActionForm):
    """Send reminders again now, through the same sender as the scheduled ones."""

    title = "Send this reminder again?"
    bulk_title = "Send these reminders again?"
    description = (
        "It goes out now, through the same sender as the scheduled ones, and the attempt is recorded on the reminder."
    )
    submit_label = "Send again now"
    ask_first = False  # the list's action sends at once, and says why for each one it cannot

    def perform(self, actor: User | None) -> DispatchReport:
        # One service call for all: it refuses a reminder that cannot go with the reason, not an error.
        return send_again(self.objects, actor=actor)

    def report(self, result: DispatchReport) -> Report:
        shown = [(messages.ERROR, refusal) for refusal in result.refused]
        if result.sent:
            shown.append((messages.SUCCESS, f"{result.sent} reminder(s) sent again."))
        if result.failed:
            shown.append((messages.WARNING, f"{result.failed} reminder(s) failed again: see their last error."))
        if result.skipped:
            shown.append((messages.WARNING, f"{result.skipped} reminder(s) no longer wanted: cancelled."))
        return shown


@admin.register(Reminder)
class ReminderAdmin(RowCheckboxMixin, ActionAdminMixin, SafeChangeListMixin, ModelAdmin):
    action_template = "admin/bookings/reminder/send_again.html"
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
    actions_detail = ("send_again_one",)
    row_links = {"send_again_one": SendAgainForm}  # the "Actions" column, not unfold's row menu

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reminder | None = None) -> bool:
        return False

    def has_send_again_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # The rows themselves stay read-only; the right to change reminders is the right to resend.
        return request.user.has_perm("bookings.change_reminder")

    @display(description="Status", ordering="status")
    def status_badge(self, obj: Reminder) -> str:
        return badge(obj.get_status_display(), REMINDER_STATUS_COLOURS.get(obj.status))

    @display(description="Last error")
    def error(self, obj: Reminder) -> str:
        return Truncator(obj.last_error).chars(60)

    # --- Send again ------------------------------------------------------------------------------

    @action(description="Send selected reminders again", permissions=["send_again"])
    def send_again_selected(self, request: HttpRequest, queryset: QuerySet[Reminder]) -> HttpResponse | None:
        return self.run_bulk_action(request, queryset.order_by("pk"), SendAgainForm)

    @action(description="Send again", icon="send", permissions=["send_again"], url_path="send-again")
    def send_again_one(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET asks; only the confirming POST (with its CSRF token) sends."""
        return self.run_action(request, object_id, SendAgainForm)
