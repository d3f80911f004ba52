"""The results pages: a tutor records results for their own sessions' bookings only, the overall band
is computed (and shown as the scores are typed), and a correction goes through correct_result."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from bookings import services
from bookings.errors import BookingNotAllowed
from bookings.models import Booking, BookingEvent, BookingStatus, Product, Scoring, TestResult
from tests import pages
from tests.factories import OperatorFactory, ProductFactory, SessionFactory, StudentFactory, TutorFactory, booking_in

pytestmark = pytest.mark.django_db

ADD = "admin:bookings_testresult_add"
BANDS = {"listening": "6.5", "reading": "7", "writing": "7.5", "speaking": "6"}  # mean 6.75 -> 7.0


def change_url(result: TestResult) -> str:
    return reverse("admin:bookings_testresult_change", args=[result.pk])


def starts_in(hours: float):
    return timezone.now().replace(microsecond=0) + timedelta(hours=hours)


def sat_booking(tutor=None, *, status: str = BookingStatus.CONFIRMED, hours: float = 3, product: Product | None = None):
    """A booking of a session with ``tutor`` starting in ``hours``, brought to ``status``."""
    session = SessionFactory(tutor=tutor, starts_at=starts_in(hours), product=product or ProductFactory())
    return booking_in(status, session=session, student=StudentFactory())


def after_the_sitting():
    """The clock eight hours on: every session made with ``hours`` < 8 has started."""
    return time_machine.travel(timezone.now() + timedelta(hours=8))


def recorded(booking: Booking, **bands: str) -> TestResult:
    with time_machine.travel(booking.session.starts_at + timedelta(hours=3)):
        return services.record_result(booking, scores=bands or BANDS)


@pytest.fixture
def tutor():
    return TutorFactory()


@pytest.fixture
def tutor_client(client, tutor):
    client.force_login(tutor.user)
    return client


@pytest.fixture
def operator_client(client):
    client.force_login(OperatorFactory())
    return client


# --- Recording ---------------------------------------------------------------------------------


def test_a_tutor_records_a_result_for_their_own_booking_and_the_overall_is_computed(tutor_client, tutor):
    booking = sat_booking(tutor)

    with after_the_sitting():
        response = tutor_client.post(reverse(ADD), {"booking": booking.pk, **BANDS, "test_date": ""})

    assert response.status_code == 302, response.context["adminform"].form.errors
    result = TestResult.objects.get(booking=booking)
    assert result.overall == Decimal("7.0")  # 6.75 rounds up to the next band
    assert result.created_by == tutor.user
    assert result.test_date == timezone.localdate(booking.session.starts_at)  # dated by its sitting
    booking.refresh_from_db()
    assert (booking.status, booking.has_result) == (BookingStatus.COMPLETED, True)


def test_a_tutor_posting_another_tutors_booking_gets_a_form_error_and_no_result(tutor_client):
    theirs = sat_booking(TutorFactory())

    with after_the_sitting():
        response = tutor_client.post(reverse(ADD), {"booking": theirs.pk, **BANDS})

    assert response.status_code == 200
    assert "booking" in response.context["adminform"].form.errors
    assert not TestResult.objects.exists()
    theirs.refresh_from_db()
    assert theirs.status == BookingStatus.CONFIRMED


def test_a_tutor_chooses_among_their_started_confirmed_or_completed_bookings(tutor_client, tutor):
    confirmed = sat_booking(tutor, hours=3)
    completed = sat_booking(tutor, status=BookingStatus.COMPLETED, hours=4)
    sat_booking(tutor, status=BookingStatus.PENDING, hours=5)  # not paid
    sat_booking(tutor, status=BookingStatus.NO_SHOW, hours=6)  # did not sit
    sat_booking(tutor, hours=24)  # not started
    sat_booking(TutorFactory(), hours=3)  # another tutor's

    with after_the_sitting():
        page = tutor_client.get(reverse(ADD))

    field = page.context["adminform"].form.fields["booking"]
    assert {b.pk for b in field.queryset} == {confirmed.pk, completed.pk}
    assert confirmed.reference in field.label_from_instance(confirmed)
    assert str(confirmed.student) in page.content.decode()  # a plain select, labelled by student


def test_staff_see_the_services_refusal_for_a_booking_that_cannot_get_a_result(operator_client):
    pending = sat_booking(status=BookingStatus.PENDING)

    with after_the_sitting():
        response = operator_client.post(reverse(ADD), {"booking": pending.pk, **BANDS})

    assert response.status_code == 200
    assert any("only a confirmed or completed" in e for e in response.context["adminform"].form.non_field_errors())
    assert not TestResult.objects.exists()


def test_the_result_form_shows_the_overall_live(operator_client):
    add_page = operator_client.get(reverse(ADD)).content.decode()
    assert "data-overall-preview" in add_page
    assert "Math.round(sum / 2) / 2" in add_page  # the half-band rounding, halves up

    result = recorded(sat_booking())
    change_page = operator_client.get(change_url(result)).content.decode()
    assert 'data-scoring="ielts_band">7.0<' in change_page


# --- Corrections -------------------------------------------------------------------------------


def correction(result: TestResult, **bands: str) -> dict[str, str]:
    return {**BANDS, "test_date": result.test_date.isoformat(), **bands}


def test_a_correction_goes_through_the_service_recomputes_the_overall_and_keeps_history(operator_client):
    result = recorded(sat_booking())

    response = operator_client.post(change_url(result), correction(result, writing="5", speaking="5.5"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    result.refresh_from_db()
    assert (result.writing, result.speaking, result.overall) == (Decimal("5.0"), Decimal("5.5"), Decimal("6.0"))
    event = BookingEvent.objects.get(booking=result.booking, action="result.corrected")
    assert event.data["old"]["overall"] == "7.0"
    assert event.data["new"]["overall"] == "6.0"
    assert (event.data["old"]["writing"], event.data["new"]["writing"]) == ("7.5", "5.0")


def test_an_off_grid_correction_is_a_field_error_and_changes_nothing(operator_client):
    result = recorded(sat_booking())

    response = operator_client.post(change_url(result), correction(result, reading="6.3"))

    assert response.status_code == 200
    assert "reading" in response.context["adminform"].form.errors
    result.refresh_from_db()
    assert (result.reading, result.overall) == (Decimal("7.0"), Decimal("7.0"))
    assert not BookingEvent.objects.filter(action="result.corrected").exists()


def test_saving_an_unchanged_result_writes_no_history(operator_client):
    result = recorded(sat_booking())

    response = operator_client.post(change_url(result), correction(result))

    assert response.status_code == 302
    assert not BookingEvent.objects.filter(action="result.corrected").exists()


def test_a_tutor_corrects_their_own_results_but_cannot_open_another_tutors(tutor_client, tutor):
    mine = recorded(sat_booking(tutor))
    theirs = recorded(sat_booking(TutorFactory()))

    assert tutor_client.post(change_url(mine), correction(mine, listening="7")).status_code == 302
    mine.refresh_from_db()
    assert mine.listening == Decimal("7.0")

    assert tutor_client.get(change_url(theirs)).status_code == 404  # a tutor's results are their own only


# --- The services behind the forms -----------------------------------------------------------


def test_correct_result_publishes_the_result_again():
    result = recorded(sat_booking())
    RefreshToken.for_user(result.booking.student)  # a student who uses the app keeps it in their bell

    with mock.patch("bookings.services.results.publish") as publish:
        services.correct_result(result, listening="9", reading="9", writing="9", speaking="9")

    (event_type, data), kwargs = publish.call_args
    assert event_type == "result.published"
    assert (data["overall"], data["corrected"]) == ("9.0", True)
    assert kwargs["groups"] == ["staff", f"student.{result.booking.student_id}"]  # the student's app hears it
    assert kwargs["recipients"] == [result.booking.student_id]
    assert result.overall == Decimal("9.0")  # the caller's instance is brought up to date


def test_correct_result_refuses_a_tutor_of_another_session():
    result = recorded(sat_booking(TutorFactory()))

    with pytest.raises(BookingNotAllowed, match="not from one of your sessions"):
        services.correct_result(result, **{**BANDS, "listening": "9"}, actor=TutorFactory().user)

    result.refresh_from_db()
    assert result.listening == Decimal("6.5")


def test_record_result_refuses_a_tutor_of_another_session():
    booking = sat_booking(TutorFactory())

    with after_the_sitting(), pytest.raises(BookingNotAllowed, match="not from one of your sessions"):
        services.record_result(booking, scores=BANDS, actor=TutorFactory().user)

    assert not TestResult.objects.exists()


def test_a_raw_scored_result_is_corrected_to_its_mean():
    raw = ProductFactory(scoring=Scoring.RAW)
    result = recorded(sat_booking(product=raw), listening="30", reading="35")

    services.correct_result(result, listening="31", reading="35", writing=None, speaking=None)

    result.refresh_from_db()
    assert result.overall == Decimal("33.0")


# --- The feedback list's row actions: links the person may follow, no row menu ---------------------


def test_the_feedback_list_links_each_rows_actions_by_who_may_run_them(client, tutor):
    from bookings.services.feedback import request_feedback

    feedback = request_feedback(student=StudentFactory(), submission="My essay", tutor=tutor)
    change_list = reverse("admin:bookings_feedbackrequest_changelist")

    def links(user) -> set[str]:
        client.force_login(user)
        html = client.get(change_list).content.decode()
        assert "data-dropdown" not in html and "actions_row" not in html  # no unfold row menu per row
        found = pages.links(html, change_list)
        return {
            name
            for name in ("assign", "score", "complete")
            if reverse(f"admin:bookings_feedbackrequest_{name}", args=[feedback.pk]) in found
        }

    assert links(OperatorFactory()) == {"assign", "score", "complete"}
    assert links(tutor.user) == {"score", "complete"}  # tutors review; assigning is the desk's
