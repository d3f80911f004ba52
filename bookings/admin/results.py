"""Test results and feedback on writing and speaking. Every write goes through bookings.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.forms.models import ModelChoiceIterator
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminDecimalFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget

from backoffice.admin_lists import ModelAdmin, SafeChangeListMixin
from backoffice.models import User
from bookings import services
from bookings.admin.actions import ActionAdminMixin, ActionForm, in_modal
from bookings.admin.base import (
    ReadOnlyChangeMixin,
    RowCheckboxMixin,
    ServiceForm,
    ServiceFormMixin,
    TutorScopedMixin,
    badge,
    sees_own_only,
    student_search_fields,
    tutor_choices,
    tutor_filter,
)
from bookings.admin.exports import ResultExportResource
from bookings.admin.imports import SpreadsheetImportExportMixin
from bookings.models import Booking, FeedbackRequest, TestResult, Tutor
from bookings.models.results import SUB_SCORES
from bookings.selectors import bookings_awaiting_result


def booking_label(booking: Booking) -> str:
    """A booking as the result form offers it: "K7QX4MZ · Aziza Karimova · IELTS mock · Wed 09 Dec 2026"."""
    day = timezone.localtime(booking.session.starts_at)
    return f"{booking.reference} · {booking.student} · {booking.session.product.name} · {day:%a %d %b %Y}"


class OfferedChoices(ModelChoiceIterator):
    """The options of a field that accepts more than it offers (``AwaitingResultField``)."""

    def __init__(self, field: AwaitingResultField) -> None:
        super().__init__(field)
        self.queryset = field.offered


class AwaitingResultField(forms.ModelChoiceField):
    """The result form's booking: offers only bookings awaiting a result (``bookings_awaiting_result``),
    while a booking posted anyway from ``queryset`` reaches the service, whose refusal says why."""

    iterator = OfferedChoices

    def __init__(self, queryset: QuerySet[Booking], *, offered: QuerySet[Booking], **kwargs: Any) -> None:
        self.offered = offered
        super().__init__(queryset, **kwargs)

    def label_from_instance(self, obj: Booking) -> str:
        return booking_label(obj)


class ResultAddForm(ServiceForm):
    """Records a result with services.record_result, which also completes a confirmed booking."""

    class Meta:
        model = TestResult
        fields = ("booking", *SUB_SCORES, "test_date")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "test_date" in self.fields:
            # record_result dates a result by its sitting; today's date would be wrong for yesterday's.
            self.fields["test_date"].required = False
            self.fields["test_date"].initial = None
            self.fields["test_date"].help_text = "Leave empty: the date of the session."

    def _post_clean(self) -> None:
        # TestResult.clean checks the IELTS grid field by field -- clearer than the service's
        # one-line summary of the same check -- but it needs the booking to know the scoring.
        if self.cleaned_data.get("booking") is not None:
            super(ServiceForm, self)._post_clean()

    def perform(self) -> TestResult:
        return services.record_result(
            self.cleaned_data["booking"],
            scores={name: self.cleaned_data.get(name) for name in SUB_SCORES},
            test_date=self.cleaned_data.get("test_date"),
            actor=self.actor,
        )


class ResultCorrectionForm(ServiceForm):
    """Corrects a result with services.correct_result, which recomputes the overall and keeps history."""

    class Meta:
        model = TestResult
        fields = (*SUB_SCORES, "test_date")

    def _post_clean(self) -> None:
        # The same field-by-field grid check as on the add form; the booking is known here.
        super(ServiceForm, self)._post_clean()

    def perform(self) -> TestResult:
        if not self.has_changed():
            return self.instance
        return services.correct_result(
            self.instance,
            **{name: self.cleaned_data.get(name) for name in SUB_SCORES},
            test_date=self.cleaned_data.get("test_date"),
            actor=self.actor,
        )


@admin.register(TestResult)
class TestResultAdmin(
    RowCheckboxMixin, SpreadsheetImportExportMixin, ServiceFormMixin, SafeChangeListMixin, TutorScopedMixin, ModelAdmin
):
    add_form = ResultAddForm
    import_kind = "results"
    export_resource = ResultExportResource
    form = ResultCorrectionForm
    change_form_template = "admin/bookings/testresult/change_form.html"
    tutor_user_lookup = "booking__session__tutor__user"
    list_display = ("booking", "student", *SUB_SCORES, "overall", "test_date")
    list_select_related = ("booking__student",)
    list_filter = ("booking__session__product", "test_date")
    search_fields = ("booking__reference", *student_search_fields("booking__student"))
    date_hierarchy = "test_date"

    add_fieldsets = (
        (None, {"fields": ("booking", "test_date")}),
        ("Scores", {"fields": (*SUB_SCORES, "overall_band")}),
    )
    # Corrections go through services.correct_result; the overall band is never typed in.
    fieldsets = (
        (None, {"fields": ("booking", "student", "test_date")}),
        ("Scores", {"fields": (*SUB_SCORES, "overall_band")}),
        ("Record", {"fields": ("created_by", "created_at")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: TestResult | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("overall_band",)
        return ("booking", "student", "overall_band", "created_by", "created_at")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name != "booking":
            return super().formfield_for_foreignkey(db_field, request, **kwargs)
        # Offered: what a result can be entered for. Accepted: any booking the viewer may see (a
        # tutor: their own; another tutor's id is "not one of the available choices"), so the
        # service explains why a posted booking cannot have a result.
        offered = bookings_awaiting_result(request.user)
        accepted = offered if sees_own_only(request.user) else Booking.objects.all()
        kwargs.pop("queryset", None)
        return AwaitingResultField(accepted, offered=offered, widget=UnfoldAdminSelectWidget, label="Booking", **kwargs)

    @display(description="Student", ordering="booking__student__last_name")
    def student(self, obj: TestResult) -> str:
        return str(obj.booking.student)

    @display(description="Overall")
    def overall_band(self, obj: TestResult | None) -> str:
        # The change form's script updates this as the scores are typed (IELTS rounding).
        scoring = obj.scoring if obj is not None and obj.booking_id else ""
        shown = "—" if obj is None or obj.overall is None else obj.overall
        return format_html('<strong class="text-lg" data-overall-preview data-scoring="{}">{}</strong>', scoring, shown)


# --- Feedback requests -------------------------------------------------------------------------

FEEDBACK_STATE_COLOURS = {
    "unassigned": "warning",
    "assigned": "info",
    "scored": "primary",
    "completed": "success",
}


def feedback_state(obj: FeedbackRequest) -> tuple[str, str]:
    if obj.completed:
        return "completed", "Completed"
    if obj.score is not None:
        return "scored", "Scored"
    if obj.tutor_id:
        return "assigned", "With tutor"
    return "unassigned", "Unassigned"


class FeedbackStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("unassigned", "Unassigned"), ("open", "Open with a tutor"), ("completed", "Completed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        match self.value():
            case "unassigned":
                return queryset.filter(completed=False, tutor__isnull=True)
            case "open":
                return queryset.filter(completed=False, tutor__isnull=False)
            case "completed":
                return queryset.filter(completed=True)
        return queryset


class FeedbackAddForm(ServiceForm):
    """Takes a submission with services.request_feedback; a tutor chosen here is notified at once."""

    class Meta:
        model = FeedbackRequest
        fields = ("student", "booking", "kind", "task", "submission", "tutor")

    def perform(self) -> FeedbackRequest:
        data = self.cleaned_data
        return services.request_feedback(
            student=data["student"],
            booking=data.get("booking"),
            kind=data["kind"],
            task=data.get("task", ""),
            submission=data["submission"],
            tutor=data.get("tutor"),
            actor=self.actor,
        )


class FeedbackActionForm(ActionForm):
    noun = "feedback request"

    def label(self, obj: FeedbackRequest) -> str:
        return f"#{obj.pk}"

    def success_message(self, result: FeedbackRequest) -> str:
        return f"Feedback request #{result.pk} {self.done}."


class AssignForm(FeedbackActionForm):
    title = "Assign to a tutor"
    bulk_title = "Assign feedback requests to a tutor"
    submit_label = "Assign"

    tutor = forms.ModelChoiceField(
        queryset=Tutor.objects.filter(is_active=True).select_related("user"),
        widget=UnfoldAdminSelectWidget,
        help_text="The tutor is notified at once.",
    )

    @property
    def done(self) -> str:
        return f"assigned to {self.cleaned_data['tutor']}"

    def perform_on(self, obj: FeedbackRequest, actor: User | None) -> FeedbackRequest:
        return services.assign_feedback(obj, tutor=self.cleaned_data["tutor"], actor=actor)


class ScoreForm(FeedbackActionForm):
    title = "Score the submission"
    submit_label = "Save score"

    score = forms.DecimalField(
        min_value=0,
        max_digits=3,
        decimal_places=1,
        widget=UnfoldAdminDecimalFieldWidget,
        help_text="IELTS band, 0–9 in steps of 0.5 (raw-scored products: their own scale).",
    )
    comment = forms.CharField(required=False, widget=UnfoldAdminTextareaWidget)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["score"].initial = self.target.score
        self.fields["comment"].initial = self.target.comment

    @property
    def done(self) -> str:
        return f"scored {self.cleaned_data['score']}"

    def perform_on(self, obj: FeedbackRequest, actor: User | None) -> FeedbackRequest:
        data = self.cleaned_data
        return services.score_feedback(obj, score=data["score"], comment=data["comment"], actor=actor)


class CompleteFeedbackForm(FeedbackActionForm):
    title = "Complete the request"
    description = "The score and comment become final."
    submit_label = "Complete"
    ask_first = False  # the list's action completes at once, and reports each refusal
    done = "completed"

    def perform_on(self, obj: FeedbackRequest, actor: User | None) -> FeedbackRequest:
        return services.complete_feedback(obj, actor=actor)


@admin.register(FeedbackRequest)
class FeedbackRequestAdmin(
    RowCheckboxMixin,
    ActionAdminMixin,
    ServiceFormMixin,
    ReadOnlyChangeMixin,
    SafeChangeListMixin,
    TutorScopedMixin,
    ModelAdmin,
):
    """Submissions awaiting a tutor's score. Assigning, scoring and completing are actions (services)."""

    add_form = FeedbackAddForm
    action_template = "admin/bookings/feedbackrequest/action.html"
    tutor_user_lookup = "tutor__user"
    list_display = ("student", "tutor", "kind", "score", "state", "created_at")
    list_select_related = ("student", "tutor__user")
    list_filter = (FeedbackStateFilter, "kind", tutor_filter("tutor"))
    list_filter_submit = True  # the tutor is picked from a drop-down, applied with the other filters
    search_fields = ("task", *student_search_fields("student"))
    date_hierarchy = "created_at"
    autocomplete_fields = ("student", "booking")
    actions = ("assign_selected", "complete_selected")
    actions_detail = ("assign", "score", "complete")
    row_links = {"assign": AssignForm, "score": ScoreForm, "complete": CompleteFeedbackForm}  # not a row menu

    add_fieldsets = (
        (None, {"fields": ("student", "booking", "kind")}),
        ("Submission", {"fields": ("task", "submission")}),
        ("Review", {"fields": ("tutor",)}),
    )
    fieldsets = (
        (None, {"fields": ("student", "booking", "kind", "tutor", "state_text")}),
        ("Submission", {"fields": ("task", "submission")}),
        ("Feedback", {"fields": ("score", "comment", "completed_at")}),
        ("Record", {"fields": ("created_at",)}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: FeedbackRequest | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return tuple(field for _, options in self.fieldsets for field in options["fields"])

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.related_model is Tutor:
            kwargs["queryset"] = tutor_choices(request).filter(is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- Permissions of the actions ------------------------------------------------------------

    def has_assign_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        # Managers and operators hand out the work; tutors only review what they are given.
        return not sees_own_only(request.user) and self.has_change_permission(request)

    def has_review_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        # The service checks that a tutor reviews only requests assigned to them.
        return self.has_change_permission(request)

    # --- Actions: one request (row and page, in unfold's modal) or the picked ones (list) ---------

    @admin.action(description="Assign selected requests to a tutor", permissions=["assign"])
    def assign_selected(self, request: HttpRequest, queryset: QuerySet[FeedbackRequest]) -> HttpResponse | None:
        picked = queryset.select_related("student", "tutor__user").order_by("pk")
        return self.run_bulk_action(request, picked, AssignForm)

    @admin.action(description="Complete selected requests", permissions=["review"])
    def complete_selected(self, request: HttpRequest, queryset: QuerySet[FeedbackRequest]) -> HttpResponse | None:
        return self.run_bulk_action(request, queryset.order_by("pk"), CompleteFeedbackForm)

    @in_modal
    @action(description="Assign", icon="person_add", permissions=["assign"], url_path="assign")
    def assign(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, AssignForm)

    @in_modal
    @action(description="Score", icon="grading", permissions=["review"], url_path="score")
    def score(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, ScoreForm)

    @in_modal
    @action(description="Complete", icon="task_alt", permissions=["review"], url_path="complete")
    def complete(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_action(request, object_id, CompleteFeedbackForm)

    # --- Columns ---------------------------------------------------------------------------------

    @display(description="State")
    def state(self, obj: FeedbackRequest) -> str:
        key, text = feedback_state(obj)
        return badge(text, FEEDBACK_STATE_COLOURS.get(key))

    @display(description="State")
    def state_text(self, obj: FeedbackRequest) -> str:
        return feedback_state(obj)[1]
