"""Every student endpoint with each caller: the student, another student, a tutor (the booking's
own), an operator, a manager and nobody. Another student's booking is a 404, never a 403."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bookings import services
from tests.api.conftest import API, client_for
from tests.factories import ManagerFactory, OperatorFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db

ROLES = ("student", "other_student", "tutor", "operator", "manager", "anonymous")
# (method, path, body, status for each role in ROLES). {ref}: the student's booking; {session},
# {target}: an open session, another of the booking's product.
STUDENT_ONLY = (200, 404, 403, 403, 403, 401)
ENDPOINTS = [
    ("get", "me/", None, (200, 200, 200, 200, 200, 401)),
    ("patch", "me/", {"language": "ru"}, (200, 200, 200, 200, 200, 401)),
    ("get", "products/", None, (200, 200, 200, 200, 200, 401)),
    ("get", "sessions/", None, (200, 200, 200, 200, 200, 401)),
    ("get", "sessions/by-date/", None, (200, 200, 200, 200, 200, 401)),
    ("get", "bookings/", None, (200, 200, 403, 403, 403, 401)),
    ("post", "bookings/", {"session": "{session}"}, (201, 201, 403, 403, 403, 401)),
    ("get", "bookings/{ref}/", None, STUDENT_ONLY),
    ("get", "bookings/{ref}/history/", None, STUDENT_ONLY),
    ("get", "bookings/{ref}/pay/", None, STUDENT_ONLY),
    ("post", "bookings/{ref}/reschedule/", {"session": "{target}"}, STUDENT_ONLY),
    ("post", "bookings/{ref}/cancel/", {"reason": "plans changed"}, STUDENT_ONLY),
]


@pytest.fixture
def world():
    student = StudentFactory()
    tutor = TutorFactory(min_notice_hours=1)
    session = SessionFactory(tutor=tutor, capacity=5, starts_at=timezone.now() + timedelta(days=5))
    booking = services.book(session=session, student=student)
    target = SessionFactory(product=session.product, capacity=5, starts_at=timezone.now() + timedelta(days=6))
    people = {
        "student": student,
        "other_student": StudentFactory(),
        "tutor": tutor.user,
        "operator": OperatorFactory(),
        "manager": ManagerFactory(),
        "anonymous": None,
    }
    values = {"ref": booking.reference, "session": SessionFactory(capacity=5).pk, "target": target.pk}
    return people, values


@pytest.mark.parametrize(("method", "path", "body", "statuses"), ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS])
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_its_answer(world, method, path, body, statuses, role):
    people, values = world
    client = client_for(people[role])
    data = {k: (int(v.format(**values)) if k == "session" else v) for k, v in (body or {}).items()}

    response = getattr(client, method)(API + path.format(**values), data or None, format="json")

    expected = statuses[ROLES.index(role)]
    assert response.status_code == expected, (role, response.json())
    if expected >= 400:
        assert set(response.json()) == {"code", "detail", "fields"}
