"""GET|POST feedback/ and GET feedback/statistics/: a student's writing and speaking submissions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.views.student import MAX_FEEDBACK_FILE_BYTES
from bookings.models import BookingEvent, FeedbackRequest
from tests.api.conftest import API, assert_error, client_for
from tests.factories import FeedbackRequestFactory, confirmed_booking

pytestmark = pytest.mark.django_db
URL = API + "feedback/"
STATS = API + "feedback/statistics/"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_it_takes_a_text_submission_through_the_service(student, student_api):
    booking = confirmed_booking(student=student)

    response = student_api.post(
        URL, {"kind": "writing", "task": "Task 2", "text": "Some people think...", "reference": booking.reference}
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["task"], body["submission"], body["reference"]) == (
        "writing",
        "Task 2",
        "Some people think...",
        booking.reference,
    )
    assert body["completed"] is False and body["score"] is None
    feedback = FeedbackRequest.objects.get(pk=body["id"])
    assert feedback.student == student
    assert BookingEvent.objects.filter(booking=booking, action="feedback.requested").exists()


def test_it_takes_a_recording_as_a_multipart_file(student, student_api, media):
    upload = SimpleUploadedFile("my answer.mp3", b"ID3" + b"\0" * 100, content_type="audio/mpeg")

    response = student_api.post(URL, {"kind": "speaking", "file": upload}, format="multipart")

    assert response.status_code == 201, response.json()
    submission = response.json()["submission"]
    stored = [p for p in media.rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].suffix == ".mp3" and "my answer" not in stored[0].name
    assert submission == default_storage.url(str(stored[0].relative_to(media)))


def test_a_file_over_the_limit_is_a_400_and_nothing_is_kept(student_api, media):
    upload = SimpleUploadedFile("essay.pdf", b"x" * (MAX_FEEDBACK_FILE_BYTES + 1))

    response = student_api.post(URL, {"kind": "writing", "file": upload}, format="multipart")

    body = assert_error(response, 400, "invalid")
    assert "too large" in body["detail"] and "file" in body["fields"]
    assert not FeedbackRequest.objects.exists()
    assert not [p for p in media.rglob("*") if p.is_file()]


def test_a_file_of_another_type_is_a_400(student_api):
    upload = SimpleUploadedFile("run.exe", b"MZ")

    body = assert_error(student_api.post(URL, {"file": upload}, format="multipart"), 400, "invalid")

    assert "file" in body["fields"]


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": "   "}, {"text": 5}, {"text": "x", "kind": "reading"}])
def test_bad_input_is_a_400(student_api, body):
    assert_error(student_api.post(URL, body), 400, "invalid")
    assert not FeedbackRequest.objects.exists()


def test_another_students_booking_is_a_404(other_student, student_api):
    booking = confirmed_booking(student=other_student)

    assert_error(student_api.post(URL, {"text": "x", "reference": booking.reference}), 404, "not_found")
    assert not FeedbackRequest.objects.exists()


def test_it_lists_only_the_students_own(student, other_student, student_api):
    mine = FeedbackRequestFactory(student=student)
    FeedbackRequestFactory(student=other_student)

    body = student_api.get(URL).json()

    assert [f["id"] for f in body["results"]] == [mine.pk]


def test_the_statistics_as_the_platform_sent_them(student, student_api):
    assert student_api.get(STATS).json() == {"total_submissions": 0, "completed_feedback": 0, "average_score": "0.0"}
    FeedbackRequestFactory(student=student, score=Decimal("6.5"), completed=True)
    FeedbackRequestFactory(student=student, score=Decimal("7.0"), completed=True)
    FeedbackRequestFactory(student=student)

    assert student_api.get(STATS).json() == {"total_submissions": 3, "completed_feedback": 2, "average_score": "6.8"}


@pytest.mark.parametrize("url", [URL, STATS])
@pytest.mark.parametrize(("role", "status"), [("other_student", 200), ("tutor", 403), ("operator", 403)])
def test_each_role_gets_its_answer(student, other_student, tutor, operator, role, status, url):
    FeedbackRequestFactory(student=student, score=Decimal("6.0"), completed=True)
    user = {"other_student": other_student, "tutor": tutor.user, "operator": operator}[role]

    response = client_for(user).get(url)

    if status == 200:
        body = response.json()
        assert body.get("count", body.get("total_submissions")) == 0
    else:
        assert_error(response, status, "forbidden")
    if role != "other_student":
        assert_error(client_for(user).post(URL, {"text": "x"}), 403, "forbidden")


@pytest.mark.parametrize("url", [URL, STATS])
def test_anonymous_gets_401(anonymous, url):
    assert_error(anonymous.get(url), 401, "not_authenticated")
    assert_error(anonymous.post(URL, {"text": "x"}), 401, "not_authenticated")


def test_the_same_queries_for_3_and_30_submissions(student, tutor, student_api):
    counts = []
    for n in (3, 27):
        for i in range(n):
            FeedbackRequestFactory(
                student=student, tutor=tutor if i % 2 else None, booking=confirmed_booking(student=student)
            )
        with CaptureQueriesContext(connection) as captured:
            response = student_api.get(URL + "?page_size=100")
        assert response.status_code == 200
        counts.append(len(captured))
    assert response.json()["count"] == 30
    assert counts == [3, 3]
