"""Feedback requests: taken, assigned to a tutor (who is told), scored on the product's scale and
completed -- by the services, and by the admin actions that call them."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from bookings import services
from bookings.errors import BookingNotAllowed, InvalidTransition
from bookings.models import BookingEvent, BookingStatus, FeedbackRequest, Scoring
from realtime.models import Notification
from tests.factories import (
    FeedbackRequestFactory,
    ManagerFactory,
    OperatorFactory,
    ProductFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    booking_in,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:bookings_feedbackrequest_changelist"


def reread(feedback: FeedbackRequest) -> FeedbackRequest:
    return FeedbackRequest.objects.get(pk=feedback.pk)


def with_booking(scoring: str = Scoring.IELTS_BAND) -> FeedbackRequest:
    booking = booking_in(BookingStatus.CONFIRMED, session=SessionFactory(product=ProductFactory(scoring=scoring)))
    return FeedbackRequestFactory(student=booking.student, booking=booking)


@pytest.fixture
def tutor():
    return TutorFactory()


@pytest.fixture
def operator():
    return OperatorFactory()


# --- request_feedback ------------------------------------------------------------------------


def test_it_takes_a_submission_and_assigns_it_at_once(tutor, operator):
    booking = booking_in(BookingStatus.CONFIRMED)

    feedback = services.request_feedback(
        student=booking.student, booking=booking, submission="My essay.", kind="speaking", tutor=tutor, actor=operator
    )

    feedback = reread(feedback)
    assert (feedback.tutor, feedback.kind, feedback.completed) == (tutor, "speaking", False)
    actions = list(BookingEvent.objects.filter(booking=booking).values_list("action", flat=True))
    assert actions[-2:] == ["feedback.requested", "feedback.assigned"]
    assert Notification.objects.filter(recipient=tutor.user, type="feedback.requested").count() == 1


def test_it_refuses_a_booking_of_another_student():
    booking = booking_in(BookingStatus.CONFIRMED)

    with pytest.raises(BookingNotAllowed, match="belongs to another student"):
        services.request_feedback(student=StudentFactory(), booking=booking, submission="An essay.")

    assert not FeedbackRequest.objects.exists()


# --- assign_feedback -------------------------------------------------------------------------


def test_assigning_tells_the_tutor(tutor, operator):
    feedback = with_booking()

    with mock.patch("bookings.services.feedback.publish", wraps=services.feedback.publish) as publish:
        services.assign_feedback(feedback, tutor=tutor, actor=operator)

    assert reread(feedback).tutor == tutor
    (event_type, data), kwargs = publish.call_args
    assert event_type == "feedback.requested"
    assert kwargs["groups"] == [f"tutor.{tutor.user_id}"]
    assert kwargs["recipients"] == [tutor.user]
    assert data["feedback"] == feedback.pk
    notification = Notification.objects.get(recipient=tutor.user)
    assert str(feedback.student) in notification.message
    event = BookingEvent.objects.get(booking=feedback.booking, action="feedback.assigned")
    assert (event.actor, event.data["tutor"], event.data["previous_tutor"]) == (operator, tutor.pk, None)


def test_a_request_moves_to_another_tutor_while_open(tutor):
    feedback = FeedbackRequestFactory(tutor=TutorFactory())

    services.assign_feedback(feedback, tutor=tutor)

    assert reread(feedback).tutor == tutor


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        ({"completed": True, "score": Decimal("6")}, InvalidTransition, "cannot be reassigned"),
        ({"tutor": "same"}, BookingNotAllowed, "already assigned"),
    ],
)
def test_assigning_refuses_a_completed_or_already_assigned_request(tutor, state, error, message):
    if state.get("tutor") == "same":
        state = {"tutor": tutor}
    feedback = FeedbackRequestFactory(**state)

    with pytest.raises(error, match=message):
        services.assign_feedback(feedback, tutor=tutor)

    assert not Notification.objects.exists()


def test_assigning_refuses_an_inactive_tutor():
    feedback = FeedbackRequestFactory()

    with pytest.raises(BookingNotAllowed, match="not an active tutor"):
        services.assign_feedback(feedback, tutor=TutorFactory(is_active=False))

    assert reread(feedback).tutor is None


# --- score_feedback --------------------------------------------------------------------------


def test_the_assigned_tutor_scores_and_comments(tutor):
    feedback = with_booking()
    services.assign_feedback(feedback, tutor=tutor)

    services.score_feedback(feedback, score="6.5", comment="Good range of vocabulary.", actor=tutor.user)

    feedback = reread(feedback)
    assert (feedback.score, feedback.comment) == (Decimal("6.5"), "Good range of vocabulary.")
    assert not feedback.completed
    assert BookingEvent.objects.get(booking=feedback.booking, action="feedback.scored").data["score"] == "6.5"


@pytest.mark.parametrize("score", ["6.3", "9.5", "-1", "abc"])
def test_an_ielts_score_must_be_a_band(score):
    feedback = with_booking()

    with pytest.raises(BookingNotAllowed):
        services.score_feedback(feedback, score=score)

    assert reread(feedback).score is None


def test_a_raw_scored_product_takes_its_own_scale():
    feedback = with_booking(Scoring.RAW)

    services.score_feedback(feedback, score="35.5")
    assert reread(feedback).score == Decimal("35.5")

    with pytest.raises(BookingNotAllowed, match="not a raw score"):
        services.score_feedback(feedback, score="100")


def test_a_completed_request_cannot_be_scored_again():
    feedback = FeedbackRequestFactory(score=Decimal("6"), completed=True)

    with pytest.raises(InvalidTransition, match="its score cannot change"):
        services.score_feedback(feedback, score="7")

    assert reread(feedback).score == Decimal("6.0")


def test_a_tutor_scores_only_what_is_assigned_to_them(tutor):
    feedback = FeedbackRequestFactory(tutor=TutorFactory())

    with pytest.raises(BookingNotAllowed, match="not assigned to you"):
        services.score_feedback(feedback, score="6", actor=tutor.user)

    assert reread(feedback).score is None


def test_staff_may_score_any_request(operator):
    feedback = FeedbackRequestFactory()

    services.score_feedback(feedback, score="7", actor=operator)

    assert reread(feedback).score == Decimal("7.0")


# --- complete_feedback -----------------------------------------------------------------------


def test_completing_needs_a_score():
    feedback = FeedbackRequestFactory()

    with pytest.raises(BookingNotAllowed, match="no score yet"):
        services.complete_feedback(feedback)

    assert not reread(feedback).completed


def test_completing_makes_the_feedback_final(tutor):
    feedback = with_booking()
    services.assign_feedback(feedback, tutor=tutor)
    services.score_feedback(feedback, score="7", actor=tutor.user)

    services.complete_feedback(feedback, actor=tutor.user)

    feedback = reread(feedback)
    assert feedback.completed and feedback.completed_at is not None
    assert BookingEvent.objects.filter(booking=feedback.booking, action="feedback.completed").exists()
    with pytest.raises(InvalidTransition, match="already completed"):
        services.complete_feedback(feedback)


def test_a_completion_meanwhile_makes_a_stale_score_fail():
    feedback = FeedbackRequestFactory(score=Decimal("6"))
    read_before = reread(feedback)
    services.complete_feedback(feedback)

    with pytest.raises(InvalidTransition):
        services.score_feedback(read_before, score="8")

    assert reread(feedback).score == Decimal("6.0")


# --- The admin ---------------------------------------------------------------------------------


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def tutor_client(client, tutor):
    client.force_login(tutor.user)
    return client


def action_url(name: str, feedback: FeedbackRequest) -> str:
    return reverse(f"admin:bookings_feedbackrequest_{name}", args=[feedback.pk])


def shown(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_bulk_assign_asks_for_the_tutor_then_assigns(operator_client, tutor):
    first, second = FeedbackRequestFactory(), FeedbackRequestFactory()
    selected = {"action": "assign_selected", ACTION_CHECKBOX_NAME: [first.pk, second.pk]}

    page = operator_client.post(reverse(CHANGELIST), selected)

    assert page.status_code == 200
    assert "admin/bookings/feedbackrequest/action.html" in [t.name for t in page.templates]
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    assert not FeedbackRequest.objects.filter(tutor__isnull=False).exists()  # nothing yet

    done = operator_client.post(reverse(CHANGELIST), {**selected, "confirm": "yes", "tutor": tutor.pk}, follow=True)

    assert set(FeedbackRequest.objects.values_list("tutor", flat=True)) == {tutor.pk}
    assert any(f"2 feedback request(s) assigned to {tutor}" in m for m in shown(done))
    assert Notification.objects.filter(recipient=tutor.user, type="feedback.requested").count() == 2


def test_bulk_assign_without_a_tutor_asks_again(operator_client):
    feedback = FeedbackRequestFactory()

    page = operator_client.post(
        reverse(CHANGELIST),
        {"action": "assign_selected", ACTION_CHECKBOX_NAME: [feedback.pk], "confirm": "yes"},
    )

    assert page.status_code == 200
    assert "tutor" in page.context["form"].errors
    assert reread(feedback).tutor is None


def test_tutors_cannot_assign(tutor_client, tutor):
    feedback = FeedbackRequestFactory(tutor=tutor)
    other = TutorFactory()

    response = tutor_client.post(action_url("assign", feedback), {"tutor": other.pk})

    assert response.status_code == 403
    assert reread(feedback).tutor == tutor
    actions = tutor_client.get(reverse(CHANGELIST)).context["action_form"].fields["action"].choices
    assert "assign_selected" not in [name for name, _ in actions]


def test_scoring_shows_a_dialog_on_get_and_scores_on_post(tutor_client, tutor):
    feedback = FeedbackRequestFactory(tutor=tutor, comment="First look.")

    dialog = tutor_client.get(action_url("score", feedback))
    assert dialog.status_code == 200
    assert 'id="dialog"' in dialog.content.decode() and "First look." in dialog.content.decode()
    assert reread(feedback).score is None  # GET changes nothing

    response = tutor_client.post(
        action_url("score", feedback),
        {"score": "6.5", "comment": "Clear structure."},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == reverse("admin:bookings_feedbackrequest_change", args=[feedback.pk])
    feedback = reread(feedback)
    assert (feedback.score, feedback.comment) == (Decimal("6.5"), "Clear structure.")


def test_a_refused_score_is_reported_and_changes_nothing(tutor_client, tutor):
    feedback = FeedbackRequestFactory(tutor=tutor)

    response = tutor_client.post(action_url("score", feedback), {"score": "6.3", "comment": ""})

    # The service's refusal is the form's error, on the page drawn again (bookings.admin.actions).
    assert response.status_code == 200
    assert any("not an IELTS band" in m for m in response.context["form"].non_field_errors())
    assert reread(feedback).score is None


def test_a_tutor_cannot_reach_a_request_assigned_to_someone_else(tutor_client):
    theirs = FeedbackRequestFactory(tutor=TutorFactory())

    response = tutor_client.post(action_url("score", theirs), {"score": "6"})

    assert response.status_code == 404
    assert reread(theirs).score is None


def test_tutors_see_only_the_requests_assigned_to_them(tutor_client, tutor):
    mine = FeedbackRequestFactory(tutor=tutor)
    FeedbackRequestFactory(tutor=TutorFactory())
    FeedbackRequestFactory()

    listed = tutor_client.get(reverse(CHANGELIST)).context["cl"].result_list

    assert [f.pk for f in listed] == [mine.pk]


def test_completing_from_the_list_reports_each_refusal(operator_client):
    scored = FeedbackRequestFactory(score=Decimal("7"))
    unscored = FeedbackRequestFactory()

    response = operator_client.post(
        reverse(CHANGELIST),
        {"action": "complete_selected", ACTION_CHECKBOX_NAME: [scored.pk, unscored.pk]},
        follow=True,
    )

    assert reread(scored).completed
    assert not reread(unscored).completed
    messages = shown(response)
    assert any(f"#{scored.pk}" in m and "completed" in m for m in messages)
    assert any(f"#{unscored.pk}" in m and "no score yet" in m for m in messages)


def test_the_detail_complete_confirms_on_get_and_completes_on_post(client, tutor):
    client.force_login(ManagerFactory())
    feedback = FeedbackRequestFactory(tutor=tutor, score=Decimal("6"))

    assert client.get(action_url("complete", feedback)).status_code == 200
    assert not reread(feedback).completed

    response = client.post(action_url("complete", feedback), {})

    assert response.status_code == 302
    assert reread(feedback).completed


def test_the_add_form_takes_the_submission_through_the_service(operator_client, tutor):
    student = StudentFactory()

    response = operator_client.post(
        reverse("admin:bookings_feedbackrequest_add"),
        {"student": student.pk, "kind": "writing", "task": "Task 2", "submission": "An essay.", "tutor": tutor.pk},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    feedback = FeedbackRequest.objects.get(student=student)
    assert feedback.tutor == tutor
    assert Notification.objects.filter(recipient=tutor.user, type="feedback.requested").exists()


def test_the_change_page_shows_the_state_and_saves_nothing(operator_client):
    feedback = FeedbackRequestFactory(score=Decimal("6"))
    url = reverse("admin:bookings_feedbackrequest_change", args=[feedback.pk])

    page = operator_client.get(url)
    assert 'name="_save"' not in page.content.decode()
    assert "Scored" in page.content.decode()

    operator_client.post(url, {"score": "9", "completed": "on"})
    feedback = reread(feedback)
    assert (feedback.score, feedback.completed) == (Decimal("6.0"), False)
