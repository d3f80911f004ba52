"""tutor/settings/, tutor/availability/ (+ bulk/) and tutor/exceptions/: written through
bookings.services.tutors, a broken rule is a 400 naming the field and nothing changes."""

from __future__ import annotations

from datetime import time

import pytest

from bookings.models import Availability, DateException
from bookings.services import tutors as tutor_services
from tests.api.conftest import API, assert_error, client_for
from tests.factories import ProductFactory, TutorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tutor():
    return TutorFactory(lesson_minutes=60, auto_confirm=False)


@pytest.fixture
def api(tutor):
    return client_for(tutor.user)


def test_it_changes_settings(tutor, api):
    response = api.patch(
        API + "tutor/settings/",
        {"timezone": "Europe/London", "lesson_minutes": 45, "auto_confirm": True, "cancellation_policy": "strict"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["timezone"] == "Europe/London"
    tutor.refresh_from_db()
    assert (tutor.timezone, tutor.lesson_minutes, tutor.auto_confirm) == ("Europe/London", 45, True)
    assert tutor.cancellation_policy == "strict"


def test_it_refuses_a_time_zone_that_does_not_exist_and_changes_nothing(tutor, api):
    response = api.patch(API + "tutor/settings/", {"timezone": "Mars/Olympus", "lesson_minutes": 30}, format="json")

    body = assert_error(response, 400, "invalid")
    assert "timezone" in body["fields"]
    tutor.refresh_from_db()
    assert (tutor.timezone, tutor.lesson_minutes) == ("Asia/Tashkent", 60)


def test_it_adds_lists_and_removes_a_window(tutor, api):
    product = ProductFactory()
    body = {"product": product.pk, "weekday": 1, "start_time": "09:00", "end_time": "13:00"}

    created = api.post(API + "tutor/availability/", body, format="json")

    assert created.status_code == 201, created.json()
    window_id = created.json()["id"]
    listed = api.get(API + "tutor/availability/").json()
    assert [w["id"] for w in listed["results"]] == [window_id]
    assert listed["results"][0]["start_time"] == "09:00:00"
    assert api.delete(API + f"tutor/availability/{window_id}/").status_code == 204
    assert not Availability.objects.filter(tutor=tutor).exists()


def test_it_refuses_a_window_that_ends_before_it_starts(tutor, api):
    body = {"product": ProductFactory().pk, "weekday": 1, "start_time": "13:00", "end_time": "09:00"}

    body = assert_error(api.post(API + "tutor/availability/", body, format="json"), 400, "invalid")

    assert "end_time" in body["fields"]
    assert not Availability.objects.exists()


def test_bulk_replaces_the_whole_week(tutor, api):
    product = ProductFactory()
    tutor_services.add_availability(tutor, product=product, weekday=4, start_time=time(8), end_time=time(9))
    week = [
        {"product": product.pk, "weekday": 0, "start_time": "09:00", "end_time": "12:00"},
        {"product": product.pk, "weekday": 2, "start_time": "14:00", "end_time": "18:00"},
    ]

    response = api.put(API + "tutor/availability/bulk/", {"windows": week}, format="json")

    assert response.status_code == 200, response.json()
    assert [(w["weekday"], w["start_time"]) for w in response.json()] == [(0, "09:00:00"), (2, "14:00:00")]
    assert list(Availability.objects.filter(tutor=tutor).values_list("weekday", flat=True).order_by("weekday")) == [
        0,
        2,
    ]


def test_bulk_with_one_bad_window_changes_nothing(tutor, api):
    product = ProductFactory()
    kept = tutor_services.add_availability(tutor, product=product, weekday=4, start_time=time(8), end_time=time(9))
    week = [
        {"product": product.pk, "weekday": 0, "start_time": "09:00", "end_time": "12:00"},
        {"product": product.pk, "weekday": 2, "start_time": "18:00", "end_time": "14:00"},
    ]

    body = assert_error(api.put(API + "tutor/availability/bulk/", {"windows": week}, format="json"), 400, "invalid")

    assert "Window 2" in body["fields"]["windows"][0]
    assert list(Availability.objects.filter(tutor=tutor)) == [kept]


def test_it_adds_and_removes_a_day_off(tutor, api):
    created = api.post(
        API + "tutor/exceptions/",
        {"date": "2030-03-08", "kind": "holiday", "start_time": "09:00", "end_time": "12:00", "note": "8 March"},
        format="json",
    )

    assert created.status_code == 201, created.json()
    exception = DateException.objects.get(tutor=tutor)
    assert (str(exception.date), exception.kind, exception.note) == ("2030-03-08", "holiday", "8 March")
    assert api.get(API + "tutor/exceptions/").json()["count"] == 1
    assert api.delete(API + f"tutor/exceptions/{exception.pk}/").status_code == 204
    assert not DateException.objects.exists()


def test_it_refuses_part_of_a_day_with_one_time_only(api):
    response = api.post(API + "tutor/exceptions/", {"date": "2030-03-08", "start_time": "09:00"}, format="json")

    body = assert_error(response, 400, "invalid")
    assert "end_time" in body["fields"]
    assert not DateException.objects.exists()


@pytest.mark.parametrize("body", [{"lesson_minutes": "45"}, {"auto_confirm": "yes"}, {"lesson_minutes": -5}])
def test_it_takes_only_what_the_schema_says(tutor, api, body):
    body = assert_error(api.patch(API + "tutor/settings/", body, format="json"), 400, "invalid")

    assert set(body["fields"]) <= {"lesson_minutes", "auto_confirm"}
    tutor.refresh_from_db()
    assert (tutor.lesson_minutes, tutor.auto_confirm) == (60, False)
