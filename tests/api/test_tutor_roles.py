"""Every tutor/ endpoint and the calendars with each caller: the tutor, another tutor, a student, an
operator and nobody. Another tutor's objects are a 404, never a 403."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
import yaml
from django.utils import timezone

from bookings import services
from bookings.models import ExceptionKind
from bookings.services import tutors as tutor_services
from tests.api.conftest import API, client_for
from tests.api.test_schema import COMMITTED
from tests.factories import OperatorFactory, ProductFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db

ROLES = ("tutor", "other_tutor", "student", "operator", "anonymous")
LIST = (200, 200, 403, 403, 401)  # another tutor sees their own (empty) list
OWN = (200, 404, 403, 403, 401)
CREATED = (201, 201, 403, 403, 401)
DELETED = (204, 404, 403, 403, 401)
WEEK = [{"product": "{product}", "weekday": 0, "start_time": "09:00", "end_time": "12:00"}]
ENDPOINTS = [
    ("get", "tutor/settings/", None, LIST),
    ("patch", "tutor/settings/", {"lesson_minutes": 45}, LIST),
    ("get", "tutor/availability/", None, LIST),
    ("post", "tutor/availability/", WEEK[0], CREATED),
    ("put", "tutor/availability/bulk/", {"windows": WEEK}, LIST),
    ("get", "tutor/availability/{window}/", None, OWN),
    ("delete", "tutor/availability/{window}/", None, DELETED),
    ("get", "tutor/exceptions/", None, LIST),
    ("post", "tutor/exceptions/", {"date": "2030-01-07", "kind": "holiday"}, CREATED),
    ("get", "tutor/exceptions/{exception}/", None, OWN),
    ("delete", "tutor/exceptions/{exception}/", None, DELETED),
    ("get", "tutor/sessions/", None, LIST),
    ("post", "tutor/sessions/", {"product": "{product}", "starts_at": "{start}"}, CREATED),
    ("post", "tutor/sessions/{session}/close/", None, OWN),
    ("post", "tutor/sessions/{closed}/reopen/", None, OWN),
    ("get", "tutor/bookings/", None, LIST),
    ("post", "tutor/bookings/{ref}/confirm/", None, OWN),
    ("post", "tutor/bookings/{ref}/complete/", None, (422, 404, 403, 403, 401)),  # not started yet
    ("post", "tutor/bookings/{ref}/no-show/", None, (422, 404, 403, 403, 401)),
    ("get", "tutor/calendar/", None, LIST),
    ("get", "tutor/calendar/export/", None, LIST),
    ("get", "tutor/statistics/", None, LIST),
    ("get", "calendar/", None, (403, 403, 200, 403, 401)),
    ("get", "calendar/export/", None, (403, 403, 200, 403, 401)),
]


@pytest.fixture
def world():
    tutor = TutorFactory()
    product = ProductFactory()
    session = SessionFactory(tutor=tutor, product=product, starts_at=timezone.now() + timedelta(days=5))
    closed = services.close_session(SessionFactory(tutor=tutor, starts_at=timezone.now() + timedelta(days=6)))
    student = StudentFactory()
    booking = services.book(session=session, student=student)
    window = tutor_services.add_availability(tutor, product=product, weekday=2, start_time=time(14), end_time=time(18))
    exception = tutor_services.add_date_exception(tutor, date=timezone.localdate(), kind=ExceptionKind.DAY_OFF)
    people = {
        "tutor": tutor.user,
        "other_tutor": TutorFactory().user,
        "student": student,
        "operator": OperatorFactory(),
        "anonymous": None,
    }
    values = {
        "product": product.pk,
        "window": window.pk,
        "exception": exception.pk,
        "session": session.pk,
        "closed": closed.pk,
        "ref": booking.reference,
        "start": (timezone.now() + timedelta(days=9)).replace(microsecond=0).isoformat(),
    }
    return people, values


def fill(value, values):
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    if value == "{product}":
        return values["product"]
    return value.format(**values) if isinstance(value, str) else value


@pytest.mark.parametrize(("method", "path", "body", "statuses"), ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS])
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_its_answer(world, method, path, body, statuses, role):
    people, values = world
    client = client_for(people[role])

    response = getattr(client, method)(API + path.format(**values), fill(body, values), format="json")

    expected = statuses[ROLES.index(role)]
    assert response.status_code == expected, (role, response.content[:300])
    if expected >= 400:
        assert set(response.json()) == {"code", "detail", "fields"}


def test_every_endpoint_is_in_the_committed_schema():
    paths = yaml.safe_load(COMMITTED.read_text())["paths"]
    names = {"window": "id", "exception": "id", "session": "id", "closed": "id", "ref": "reference"}

    for method, path, _, _ in ENDPOINTS:
        documented = "/api/v1/" + re.sub(r"\{(\w+)\}", lambda m: "{" + names[m.group(1)] + "}", path)
        assert method in paths[documented], (method, documented)
