"""GET dashboard/stats/: the pretest platform's four figures, from bookings.selectors.student_stats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bookings import services
from tests.api.conftest import API, assert_error, client_for
from tests.factories import ResultFactory, SessionFactory, StudentFactory, confirmed_booking

pytestmark = pytest.mark.django_db
URL = API + "dashboard/stats/"


def test_it_answers_zeros_without_results(student_api):
    response = student_api.get(URL)

    assert response.status_code == 200
    assert response.json() == {"total_tests": 0, "average_score": 0, "best_score": 0, "upcoming_tests": 0}


def test_it_counts_results_scores_and_upcoming_confirmed_bookings(student, student_api):
    ResultFactory(booking=confirmed_booking(student=student))  # 6.5 6.5 6.0 6.0 -> 6.5
    ResultFactory(
        booking=confirmed_booking(student=student),
        listening=Decimal(7),
        reading=Decimal(7),
        writing=Decimal(7),
        speaking=Decimal(7),
    )
    services.book(session=SessionFactory(), student=student)  # pending: not an upcoming test yet
    ResultFactory(booking=confirmed_booking(student=StudentFactory()), listening=Decimal(9))  # someone else's

    body = student_api.get(URL).json()

    assert body == {"total_tests": 2, "average_score": 6.8, "best_score": 7.0, "upcoming_tests": 2}
    assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in body.values())


@pytest.mark.parametrize(("role", "status"), [("other_student", 200), ("tutor", 403), ("operator", 403)])
def test_each_role_gets_its_answer(student, other_student, tutor, operator, role, status):
    ResultFactory(booking=confirmed_booking(student=student))
    user = {"other_student": other_student, "tutor": tutor.user, "operator": operator}[role]

    response = client_for(user).get(URL)

    if status == 200:
        assert response.json()["total_tests"] == 0  # only their own
    else:
        assert_error(response, status, "forbidden")


def test_anonymous_gets_401(anonymous):
    assert_error(anonymous.get(URL), 401, "not_authenticated")
