"""The 403, 404 and 500 pages: the back office's look, a way home, JSON under /api/ (issue 14)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from backoffice import error_pages
from tests.factories import OperatorFactory, TutorFactory

pytestmark = pytest.mark.django_db


def test_an_unknown_address_is_a_404_page_with_a_way_home(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page
    assert 'href="/admin/"' in page
    assert 'data-error-status="404"' in page


def test_staff_get_the_404_inside_the_back_office_frame(client):
    client.force_login(OperatorFactory())

    response = client.get("/admin/bookings/no-such-model/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page
    assert 'id="nav-sidebar"' in page or "sidebar" in page  # the admin's navigation, not a bare page
    assert "Back to the dashboard" in page


def test_a_tutor_refused_a_page_gets_a_styled_403_not_a_bare_forbidden(client):
    tutor = TutorFactory()
    client.force_login(tutor.user)

    response = client.get("/admin/bookings/product/add/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "Not allowed" in page
    assert "Back to the dashboard" in page
    assert "<h1>403 Forbidden</h1>" not in page


def test_the_path_is_shown_escaped(client):
    response = client.get("/<script>alert(1)</script>/")

    assert response.status_code == 404
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_the_api_answers_its_own_error_shape(client):
    response = client.get("/api/v1/no-such-endpoint/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["fields"] == {}


def test_the_500_page_needs_no_database(django_assert_num_queries):
    request = RequestFactory().get("/admin/bookings/booking/")

    with django_assert_num_queries(0):
        response = error_pages.server_error(request)

    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    assert 'href="/admin/"' in response.content.decode()


def test_the_500_page_falls_back_to_plain_html_when_it_cannot_render(settings):
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [], "APP_DIRS": False, "OPTIONS": {"loaders": []}}]

    response = error_pages.server_error(RequestFactory().get("/"))

    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
