"""One error shape, {"code", "detail", "fields"}, with the right status, for every kind of refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.tokens import AccessToken

from api.errors import exception_handler
from bookings.errors import AlreadyBooked, BookingError, BookingNotAllowed, InvalidTransition, SessionFull
from tests.api.conftest import API, assert_error, client_for
from tests.factories import StudentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (SessionFull("IELTS mock is full."), 409, "session_full"),
        (AlreadyBooked(), 409, "already_booked"),
        (InvalidTransition(), 422, "invalid_transition"),
        (BookingNotAllowed("Free cancellation ended at 05 Dec 10:00."), 422, "booking_not_allowed"),
        (BookingError(), 422, "booking_not_allowed"),
    ],
)
def test_the_booking_services_refusals_map_to_409_and_422(error, status, code):
    response = exception_handler(error, {"request": APIRequestFactory().get("/")})

    assert (response.status_code, response.data) == (status, {"code": code, "detail": error.message, "fields": {}})


@pytest.mark.parametrize("path", ["me/", "products/", "sessions/", "bookings/", "bookings/ABC/", "bookings/ABC/pay/"])
def test_nobody_signed_in_gets_401_with_the_bearer_challenge(anonymous, path):
    response = anonymous.get(API + path)

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_an_expired_access_token_is_a_401():
    student = StudentFactory()
    token = AccessToken.for_user(student)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=1))
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_error(client.get(API + "me/"), 401, "not_authenticated")


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Basic abc", "Bearer ü"])
def test_a_malformed_authorization_header_is_a_401_not_a_500(header):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(API + "me/")

    assert response.status_code == 401
    assert_error(response, 401, "not_authenticated")


def test_a_student_endpoint_is_a_403_for_staff(operator):
    body = assert_error(client_for(operator).get(API + "bookings/"), 403, "forbidden")

    assert body["detail"] == "Only students can do this."


@pytest.mark.parametrize("path", ["nothing/", "bookings", "bookings/ABC/nothing/", "tutor/settings/x/"])
def test_a_path_that_names_no_endpoint_is_a_json_404(student_api, path):
    response = student_api.get(API + path)

    assert_error(response, 404, "not_found")
    assert response["Content-Type"] == "application/json"


def test_a_method_an_endpoint_does_not_take_is_a_405(student_api):
    response = student_api.delete(API + "bookings/")

    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_a_404_never_names_the_model(student_api):
    body = assert_error(student_api.get(API + "bookings/NOPE123/"), 404, "not_found")

    assert body["detail"] == "Not found."


def test_a_validation_error_names_the_field_in_detail_and_fields(student_api):
    body = assert_error(student_api.post(API + "bookings/", {"payment_method": "card"}, format="json"), 400, "invalid")

    assert set(body["fields"]) == {"session", "payment_method"}
    assert body["detail"].startswith("session: ")


def test_a_nul_byte_in_text_is_a_400(student_api):
    assert_error(student_api.patch(API + "me/", {"last_name": "x\u0000y"}, format="json"), 400, "invalid")


def test_a_nul_byte_in_the_path_is_refused_before_the_api(student_api):
    response = student_api.get(API + "bookings/AB%00C/")

    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["", "text/plain", "application/xml"])
def test_a_body_of_a_type_an_endpoint_does_not_read_is_a_415_the_schema_documents(student_api, content_type):
    """schemathesis once sent a multipart body that reached the feedback endpoint without its
    Content-Type: DRF answered 415, which the schema did not list (api.schema adds it to every body)."""
    from pathlib import Path

    import yaml

    for method, path in (("POST", "feedback/"), ("POST", "bookings/"), ("PATCH", "me/")):
        response = student_api.generic(method, API + path, b"\x1f\xc2\x91bR", content_type=content_type)
        body = assert_error(response, 415, "unsupported_media_type")
        assert body["fields"] == {}

    schema = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())
    bodies = [
        (path, method, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in ("post", "put", "patch")
    ]
    assert bodies
    assert [(path, method) for path, method, operation in bodies if "415" not in operation["responses"]] == []
