"""Test results and feedback on writing and speaking. Every write goes through bookings.services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminDecimalFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget

from backoffice.admin_lists import SafeChangeListMixin
from bookings import services
from bookings.admin.base import (
    ReadOnlyChangeMixin,
    ServiceAddMixin,
    ServiceForm,
    TutorScopedMixin,
    object_or_404,
    sees_own_only,
    student_search_fields,
    tutor_choices,
    tutor_filter,
)
from bookings.admin.exports import ResultExportResource
from bookings.admin.imports import SpreadsheetImportExportMixin
from bookings.errors import BookingError
from bookings.models import Booking, BookingStatus, FeedbackRequest, TestResult, Tutor
from bookings.models.results import SUB_SCORES

# What services.record_result accepts: a booking that holds (or held) its seat until the sitting.
RESULT_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.COMPLETED)


def bookings_open_for_results(user: Any) -> QuerySet[Booking]:
    """A tutor's bookings they may record a result for: their own sessions', started, confirmed or completed."""
    return (
        Booking.objects.filter(
            session__tutor__user=user,
            session__starts_at__lte=timezone.now(),
            status__in=RESULT_STATUSES,
        )
        .select_related("student", "session__product")
        .order_by("-session__starts_at", "reference")
    )


def booking_label(booking: Booking) -> str:
    starts = timezone.localtime(booking.session.starts_at)
    return f"{booking.reference} · {booking.student} · {booking.session.product.name}, {starts:%d %b %H:%M}"


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
class TestResultAdmin(SpreadsheetImportExportMixin, ServiceAddMixin, SafeChangeListMixin, TutorScopedMixin, ModelAdmin):
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
    autocomplete_fields = ("booking",)

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

    def get_autocomplete_fields(self, request: HttpRequest) -> tuple[str, ...]:
        # A tutor picks from the short list of their own bookings awaiting a result.
        return () if sees_own_only(request.user) else self.autocomplete_fields

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        tutor_picks = db_field.name == "booking" and sees_own_only(request.user)
        if tutor_picks:
            # Another tutor's booking id posted anyway is "not one of the available choices".
            kwargs["queryset"] = bookings_open_for_results(request.user)
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if tutor_picks and field is not None:
            field.label_from_instance = booking_label
        return field

    def get_form(self, request: HttpRequest, obj: TestResult | None = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user  # a new class per request (modelform_factory)
        return form

    def save_model(self, request: HttpRequest, obj: TestResult, form: forms.ModelForm, change: bool) -> None:
        return  # the form's service call (record_result or correct_result) has saved it

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


class FeedbackDialogForm(BaseDialogForm):
    """A dialog about one feedback request (its id in the URL): one the user may see, or a 404.

    unfold builds the dialog's form before it calls the action, so this is where an id that names
    no request, another tutor's or none at all ("abc") is answered, for GET and POST alike.
    """

    def __init__(self, request: HttpRequest, object_id: int | str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, object_id, *args, **kwargs)
        # No id: the list's bulk action, which asks the same question for the rows it was given.
        self.feedback = object_or_404(visible_feedback(request.user), object_id) if object_id is not None else None


class AssignForm(FeedbackDialogForm):
    tutor = forms.ModelChoiceField(
        queryset=Tutor.objects.filter(is_active=True).select_related("user"),
        widget=UnfoldAdminSelectWidget,
        help_text="The tutor is notified at once.",
    )


class ScoreForm(FeedbackDialogForm):
    score = forms.DecimalField(
        min_value=0,
        max_digits=3,
        decimal_places=1,
        widget=UnfoldAdminDecimalFieldWidget,
        help_text="IELTS band, 0–9 in steps of 0.5 (raw-scored products: their own scale).",
    )
    comment = forms.CharField(required=False, widget=UnfoldAdminTextareaWidget)

    def __init__(self, request: HttpRequest, object_id: int | str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, object_id, *args, **kwargs)
        if self.feedback is not None:
            self.fields["score"].initial = self.feedback.score
            self.fields["comment"].initial = self.feedback.comment


def visible_feedback(user: Any) -> QuerySet[FeedbackRequest]:
    """Tutors see the requests assigned to them; the people who run the centre see all."""
    requests = FeedbackRequest.objects.all()
    return requests.filter(tutor__user=user) if sees_own_only(user) else requests


@admin.register(FeedbackRequest)
class FeedbackRequestAdmin(ServiceAddMixin, ReadOnlyChangeMixin, SafeChangeListMixin, TutorScopedMixin, ModelAdmin):
    """Submissions awaiting a tutor's score. Assigning, scoring and completing are actions (services)."""

    add_form = FeedbackAddForm
    tutor_user_lookup = "tutor__user"
    list_display = ("student", "tutor", "kind", "score", "state", "created_at")
    list_select_related = ("student", "tutor__user")
    list_filter = (FeedbackStateFilter, "kind", tutor_filter("tutor"))
    search_fields = ("task", *student_search_fields("student"))
    date_hierarchy = "created_at"
    autocomplete_fields = ("student", "booking")
    actions = ("assign_selected", "complete_selected")
    actions_row = ("assign", "score", "complete")
    actions_detail = ("assign", "score", "complete")

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

    # --- Bulk actions (changelist) ---------------------------------------------------------------

    @admin.action(description="Assign selected requests to a tutor", permissions=["assign"])
    def assign_selected(self, request: HttpRequest, queryset: QuerySet[FeedbackRequest]) -> TemplateResponse | None:
        """An intermediate page chooses the tutor; its POST (with CSRF) makes the assignments."""
        form = AssignForm(request=request, data=request.POST if "apply" in request.POST else None)
        if form.is_valid():
            tutor = form.cleaned_data["tutor"]
            self._apply_each(
                request,
                queryset,
                lambda feedback: services.assign_feedback(feedback, tutor=tutor, actor=request.user),
                f"assigned to {tutor}",
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Assign feedback requests to a tutor",
            "opts": self.opts,
            "form": form,
            "queryset": queryset.select_related("student", "tutor__user"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:bookings_feedbackrequest_changelist"),
        }
        return TemplateResponse(request, "admin/bookings/feedbackrequest/assign.html", context)

    @admin.action(description="Complete selected requests", permissions=["review"])
    def complete_selected(self, request: HttpRequest, queryset: QuerySet[FeedbackRequest]) -> None:
        self._apply_each(
            request, queryset, lambda feedback: services.complete_feedback(feedback, actor=request.user), "completed"
        )

    def _apply_each(
        self,
        request: HttpRequest,
        queryset: QuerySet[FeedbackRequest],
        change: Callable[[FeedbackRequest], Model],
        done: str,
    ) -> None:
        """One service call per request: each is its own transaction, so one refusal stops no other."""
        changed: list[str] = []
        for feedback in queryset.order_by("pk"):
            try:
                change(feedback)
            except BookingError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                changed.append(f"#{feedback.pk}")
        if changed:
            self.message_user(
                request, f"{len(changed)} feedback request(s) {done}: {', '.join(changed)}.", messages.SUCCESS
            )

    # --- One request at a time (row and detail actions, in a dialog that POSTs) -----------------

    @action(
        description="Assign",
        icon="person_add",
        permissions=["assign"],
        dialog={"title": "Assign to a tutor", "form_class": AssignForm, "form_submit_text": "Assign"},
    )
    def assign(self, request: HttpRequest, form: AssignForm, object_id: str) -> HttpResponse:
        tutor = form.cleaned_data["tutor"]
        return self._apply_one(
            request,
            object_id,
            lambda feedback: services.assign_feedback(feedback, tutor=tutor, actor=request.user),
            f"assigned to {tutor}",
        )

    @action(
        description="Score",
        icon="grading",
        permissions=["review"],
        dialog={"title": "Score the submission", "form_class": ScoreForm, "form_submit_text": "Save score"},
    )
    def score(self, request: HttpRequest, form: ScoreForm, object_id: str) -> HttpResponse:
        data = form.cleaned_data
        return self._apply_one(
            request,
            object_id,
            lambda feedback: services.score_feedback(
                feedback, score=data["score"], comment=data["comment"], actor=request.user
            ),
            f"scored {data['score']}",
        )

    @action(
        description="Complete",
        icon="task_alt",
        permissions=["review"],
        dialog={
            "title": "Complete the request",
            "description": "The score and comment become final.",
            "form_class": FeedbackDialogForm,
            "form_submit_text": "Complete",
        },
    )
    def complete(self, request: HttpRequest, form: FeedbackDialogForm, object_id: str) -> HttpResponse:
        return self._apply_one(
            request, object_id, lambda feedback: services.complete_feedback(feedback, actor=request.user), "completed"
        )

    def _apply_one(
        self,
        request: HttpRequest,
        object_id: str,
        change: Callable[[FeedbackRequest], Model],
        done: str,
    ) -> HttpResponse:
        feedback = self.get_object(request, object_id)  # the tutor-scoped queryset: others' are not found
        if feedback is None:
            raise Http404("No such feedback request.")  # its dialog form checked; gone since, perhaps
        try:
            change(feedback)
        except BookingError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, f"Feedback request #{feedback.pk} {done}.", messages.SUCCESS)
        back = request.headers.get("HX-Current-URL", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = reverse("admin:bookings_feedbackrequest_change", args=[feedback.pk])
        if request.headers.get("HX-Request"):
            return HttpResponse(headers={"HX-Redirect": back})  # the dialog was loaded by htmx
        return HttpResponseRedirect(back)

    # --- Columns ---------------------------------------------------------------------------------

    @display(description="State", label=FEEDBACK_STATE_COLOURS)
    def state(self, obj: FeedbackRequest) -> tuple[str, str]:
        return feedback_state(obj)

    @display(description="State")
    def state_text(self, obj: FeedbackRequest) -> str:
        return feedback_state(obj)[1]
