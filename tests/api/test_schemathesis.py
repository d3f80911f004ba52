"""Schemathesis against the committed contract (docs/openapi.yaml), through the WSGI app: no
server errors, and every answer (status, headers, body) as the schema says.

Every check runs but ``positive_data_acceptance``: a request the schema allows may still be bad
input that JSON Schema cannot describe (a phone number that does not exist, a session id nobody
has, a wrong sign-in code), and the API answers it 400 as it should. Data the schema forbids must
be refused (``negative_data_rejection`` runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import positive_data_acceptance

from bookings import services
from tests.factories import SessionFactory, StudentFactory, TutorFactory

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
APP = WSGIHandler()
schema = schemathesis.openapi.from_path(SCHEMA)
schema.app = APP  # every request, the checks' own probes too, goes to the app in this process
# The API ignores query parameters it does not know (a client's cache-buster is not an error), as DRF
# does; only the values of the parameters it documents are checked. So schemathesis is not to count
# an unknown parameter as data that must be refused.
schema.config.generation.update(allow_extra_parameters=False)


@pytest.fixture
def app() -> Iterator[WSGIHandler]:
    """The WSGI app inside the test's transaction: as Django's test client does, the handler does
    not close the database connection at the end of each request (it would end the transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield APP
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def signed_in(db, outbox) -> dict[str, str]:
    """A student with a booking and sessions to find, and their token; SMS stay in memory."""
    student = StudentFactory()
    tutor = TutorFactory(min_notice_hours=1)
    for days in (2, 3):
        SessionFactory(tutor=tutor, capacity=3, starts_at=timezone.now() + timedelta(days=days))
    services.book(session=SessionFactory(capacity=3), student=student)
    return {"Authorization": f"Bearer {RefreshToken.for_user(student).access_token}"}


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_answers_as_its_schema_says(case, app, signed_in):
    case.call_and_validate(headers=signed_in, excluded_checks=[positive_data_acceptance])
