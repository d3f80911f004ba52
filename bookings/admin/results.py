"""Test results and feedback on writing and speaking."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from unfold.admin import ModelAdmin
from unfold.decorators import display

from bookings import services
from bookings.admin.base import ServiceAddMixin, ServiceForm, TutorScopedMixin, student_search_fields, tutor_filter
from bookings.models import FeedbackRequest, TestResult
from bookings.models.results import SUB_SCORES


class ResultAddForm(ServiceForm):
    """Records a result with services.record_result, which also completes a confirmed booking."""

    class Meta:
        model = TestResult
        fields = ("booking", *SUB_SCORES, "test_date")

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


@admin.register(TestResult)
class TestResultAdmin(ServiceAddMixin, TutorScopedMixin, ModelAdmin):
    add_form = ResultAddForm
    tutor_user_lookup = "booking__session__tutor__user"
    list_display = ("booking", "student", *SUB_SCORES, "overall", "test_date")
    list_select_related = ("booking__student",)
    list_filter = ("booking__session__product", "test_date")
    search_fields = ("booking__reference", *student_search_fields("booking__student"))
    date_hierarchy = "test_date"
    autocomplete_fields = ("booking",)

    add_fieldsets = ((None, {"fields": ("booking", *SUB_SCORES, "test_date")}),)
    # Corrections after the fact: TestResult.clean checks the grid again and save() recomputes
    # the overall band, which is never typed in.
    fieldsets = (
        (None, {"fields": ("booking", "test_date")}),
        ("Scores", {"fields": (*SUB_SCORES, "overall")}),
        ("Record", {"fields": ("created_by", "created_at")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: TestResult | None = None) -> tuple[str, ...]:
        return ("booking", "overall", "created_by", "created_at") if obj is not None else ()

    @display(description="Student", ordering="booking__student__last_name")
    def student(self, obj: TestResult) -> str:
        return str(obj.booking.student)


@admin.register(FeedbackRequest)
class FeedbackRequestAdmin(TutorScopedMixin, ModelAdmin):
    tutor_user_lookup = "tutor__user"
    list_display = ("created_at", "student", "kind", "tutor", "task", "score", "completed")
    list_select_related = ("student", "tutor__user")
    list_filter = ("completed", "kind", tutor_filter("tutor"))
    search_fields = ("task", *student_search_fields("student"))
    date_hierarchy = "created_at"
    autocomplete_fields = ("student", "booking")
    fieldsets = (
        (None, {"fields": ("student", "booking", "tutor", "kind")}),
        ("Submission", {"fields": ("task", "submission")}),
        ("Feedback", {"fields": ("score", "comment", "completed", "completed_at")}),
        ("Record", {"fields": ("created_at",)}),
    )
    readonly_fields = ("completed_at", "created_at")

    def save_model(self, request: HttpRequest, obj: FeedbackRequest, form: forms.ModelForm, change: bool) -> None:
        if "completed" in form.changed_data:
            obj.completed_at = timezone.now() if obj.completed else None
        super().save_model(request, obj, form, change)
