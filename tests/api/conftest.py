"""The API's callers, one per role, each with a bearer token (as a front end holds one)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from backoffice.models import User
from bookings.notify import sms
from tests.factories import OperatorFactory, StudentFactory, TutorFactory

API = "/api/v1/"


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def as_user() -> Callable[[User | None], APIClient]:
    return client_for


@pytest.fixture
def student(db) -> User:
    return StudentFactory()


@pytest.fixture
def other_student(db) -> User:
    return StudentFactory()


@pytest.fixture
def tutor(db):
    return TutorFactory()


@pytest.fixture
def operator(db) -> User:
    return OperatorFactory()


@pytest.fixture
def student_api(student) -> APIClient:
    return client_for(student)


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def outbox(settings) -> list[sms.SMSMessage]:
    """SMS sent during the test (SMS_BACKEND=locmem)."""
    settings.SMS_BACKEND = "locmem"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


def assert_error(response, status: int, code: str) -> dict:
    """The one error shape: {"code", "detail", "fields"}."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}, body
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert isinstance(body["fields"], dict), body
    return body
