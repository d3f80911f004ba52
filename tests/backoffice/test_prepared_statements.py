"""PostgreSQL plans a query the app runs again and again once per connection, not once per request:
parameters are bound by the server and a query run 5 times is prepared (DATABASE_PREPARED_STATEMENTS,
on by default; off for a pooler that cannot keep prepared statements)."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from bookings.models import Booking
from tests.backoffice.test_settings_env import A_KEY, start_django
from tests.factories import confirmed_booking

SHOW_OPTIONS = (
    "import django, json; django.setup(); from django.conf import settings; "
    "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {})))"
)


def database_options(**environ: str) -> dict:
    started = start_django(code=SHOW_OPTIONS, SECRET_KEY=A_KEY, DEBUG="0", **environ)
    assert started.returncode == 0, started.stderr
    return json.loads(started.stdout.strip().splitlines()[-1])


def test_postgresql_connections_bind_on_the_server_and_prepare_repeated_queries():
    options = database_options(DATABASE_URL="postgres://seatdesk@db.internal:5432/seatdesk")
    assert (options["server_side_binding"], options["prepare_threshold"]) == (True, 5)


def test_prepared_statements_can_be_turned_off_for_a_pooler():
    options = database_options(
        DATABASE_URL="postgres://seatdesk@db.internal:5432/seatdesk", DATABASE_PREPARED_STATEMENTS="0"
    )
    assert "server_side_binding" not in options and "prepare_threshold" not in options


def test_sqlite_is_left_as_it_is():
    options = database_options(DATABASE_URL="sqlite:////tmp/seatdesk-options.sqlite3")
    assert "server_side_binding" not in options


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_query_run_again_on_a_connection_is_prepared_and_answers_the_same():
    booking = confirmed_booking()

    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            return cursor.fetchone()[0]

    before = prepared()
    answers = [Booking.objects.filter(reference=booking.reference).values_list("pk", flat=True).get() for _ in range(6)]

    assert answers == [booking.pk] * 6
    assert prepared() > before
