"""GET notifications/, POST notifications/<id>/read/, POST notifications/read-all/: the caller's own
notifications, with the unread count the admin's bell shows too (realtime.inbox)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from realtime import inbox
from realtime.events import publish
from realtime.models import Notification
from tests.api.conftest import API, assert_error, client_for

pytestmark = pytest.mark.django_db
URL = API + "notifications/"


def notify(user, type: str = "booking.confirmed", **data) -> Notification:
    publish(type, {"summary": f"{type} for you", **data}, groups=[], recipients=[user])
    return Notification.objects.filter(recipient=user).latest("id")


def test_it_lists_the_callers_notifications_newest_first_with_the_unread_count(student, other_student, student_api):
    first = notify(student, reference="ABC123")
    second = notify(student, "booking.reminder")
    notify(other_student)

    body = student_api.get(URL).json()

    assert body["unread_count"] == 2 and body["count"] == 2
    assert [n["id"] for n in body["results"]] == [second.pk, first.pk]
    item = body["results"][1]
    assert (item["type"], item["title"], item["read"]) == ("booking.confirmed", "Booking confirmed", False)
    assert item["message"] == "booking.confirmed for you" and item["data"]["reference"] == "ABC123"


def test_unread_only_and_type_filter_the_list_not_the_unread_count(student, student_api):
    read = notify(student)
    inbox.mark_read(Notification.objects.filter(pk=read.pk), user_id=student.pk)
    reminder = notify(student, "booking.reminder")
    confirmed = notify(student)

    unread = student_api.get(URL + "?unread_only=true").json()
    reminders = student_api.get(URL + "?type=booking.reminder").json()

    assert [n["id"] for n in unread["results"]] == [confirmed.pk, reminder.pk]
    assert [n["id"] for n in reminders["results"]] == [reminder.pk]
    assert unread["unread_count"] == reminders["unread_count"] == 2


@pytest.mark.parametrize("query", ["unread_only=maybe", "unread_only=", "type=booking.nope"])
def test_bad_filters_are_a_400(student_api, query):
    assert_error(student_api.get(URL + "?" + query), 400, "invalid")


def test_marking_one_read_updates_the_bells_count_too(student, student_api):
    one, other = notify(student), notify(student)
    assert inbox.unread_count(student.pk) == 2  # cached, as the admin's bell reads it

    response = student_api.post(URL + f"{one.pk}/read/")

    assert response.status_code == 200
    assert response.json() == {"marked": 1, "unread_count": 1}
    one.refresh_from_db()
    assert one.read and one.read_at is not None
    assert inbox.unread_count(student.pk) == 1
    assert student_api.post(URL + f"{one.pk}/read/").json() == {"marked": 0, "unread_count": 1}
    assert not Notification.objects.get(pk=other.pk).read


def test_marking_all_read(student, other_student, student_api):
    notify(student), notify(student)
    theirs = notify(other_student)

    response = student_api.post(URL + "read-all/")

    assert response.json() == {"marked": 2, "unread_count": 0}
    assert inbox.unread_count(student.pk) == 0
    assert not Notification.objects.get(pk=theirs.pk).read


def test_another_persons_notification_is_a_404_and_stays_unread(student, other_student):
    theirs = notify(other_student)

    assert_error(client_for(student).post(URL + f"{theirs.pk}/read/"), 404, "not_found")
    assert_error(client_for(student).post(URL + "999999999999/read/"), 404, "not_found")
    assert not Notification.objects.get(pk=theirs.pk).read


@pytest.mark.parametrize("role", ["other_student", "tutor", "operator"])
def test_every_signed_in_person_reads_only_their_own(student, other_student, tutor, operator, role):
    notify(student)
    user = {"other_student": other_student, "tutor": tutor.user, "operator": operator}[role]
    own = notify(user, "feedback.requested")
    client = client_for(user)

    body = client.get(URL).json()

    assert [n["id"] for n in body["results"]] == [own.pk] and body["unread_count"] == 1
    assert client.post(URL + f"{own.pk}/read/").json() == {"marked": 1, "unread_count": 0}
    assert client.post(URL + "read-all/").json() == {"marked": 0, "unread_count": 0}
    assert not Notification.objects.filter(recipient=student, read=True).exists()


def test_anonymous_gets_401(anonymous, student):
    one = notify(student)
    for response in (
        anonymous.get(URL),
        anonymous.post(URL + f"{one.pk}/read/"),
        anonymous.post(URL + "read-all/"),
    ):
        assert_error(response, 401, "not_authenticated")


def test_the_same_queries_for_3_and_30_notifications(student, student_api):
    counts = []
    for n in (3, 27):
        for _ in range(n):
            notify(student)
        with CaptureQueriesContext(connection) as captured:
            response = student_api.get(URL + "?page_size=100&unread_only=true")
        assert response.status_code == 200
        counts.append(len(captured))
    assert response.json()["count"] == 30
    assert counts == [4, 4]  # the token's user, the count, the page, the unread count
