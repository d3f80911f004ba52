"""GET results/: the student's own results with band scores, latest first, paged."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import API, assert_error, client_for
from tests.factories import ResultFactory, confirmed_booking

pytestmark = pytest.mark.django_db
URL = API + "results/"


def test_it_lists_the_students_results_with_band_scores(student, other_student, student_api):
    older = ResultFactory(booking=confirmed_booking(student=student), test_date=date(2026, 1, 5))
    newer = ResultFactory(
        booking=confirmed_booking(student=student), test_date=date(2026, 2, 5), listening=Decimal("8.5")
    )
    ResultFactory(booking=confirmed_booking(student=other_student))

    body = student_api.get(URL).json()

    assert body["count"] == 2
    assert [r["id"] for r in body["results"]] == [newer.pk, older.pk]
    first = body["results"][0]
    assert first["reference"] == newer.booking.reference
    assert first["product"]["code"] == newer.booking.session.product.code
    assert first["test_date"] == "2026-02-05"
    assert (first["listening"], first["reading"], first["writing"], first["speaking"]) == ("8.5", "6.5", "6.0", "6.0")
    assert first["overall"] == "7.0"  # mean 6.75 rounds up to the next whole band


@pytest.mark.parametrize(("role", "status"), [("other_student", 200), ("tutor", 403), ("operator", 403)])
def test_each_role_gets_its_answer(student, other_student, tutor, operator, role, status):
    ResultFactory(booking=confirmed_booking(student=student))
    user = {"other_student": other_student, "tutor": tutor.user, "operator": operator}[role]

    response = client_for(user).get(URL)

    if status == 200:
        assert response.json()["count"] == 0
    else:
        assert_error(response, status, "forbidden")


def test_anonymous_gets_401(anonymous):
    assert_error(anonymous.get(URL), 401, "not_authenticated")


def test_the_same_queries_for_3_and_30_results(student, student_api):
    counts = []
    for n in (3, 27):
        for _ in range(n):
            ResultFactory(booking=confirmed_booking(student=student))
        with CaptureQueriesContext(connection) as captured:
            response = student_api.get(URL + "?page_size=100")
        assert response.status_code == 200
        counts.append(len(captured))
    assert response.json()["count"] == 30
    assert counts == [3, 3]  # the token's user, the count, the page
