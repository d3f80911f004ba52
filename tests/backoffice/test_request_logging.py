"""What the server log shows for requests: a refused page is one line, a crash keeps its traceback."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.urls import reverse

from tests.factories import TutorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def server_log() -> Iterator[io.StringIO]:
    """What the project's own console handler (settings.LOGGING) writes, captured."""
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "name", None) == "console"]
    assert handlers, "settings.LOGGING names its root handler 'console'"
    buffer = io.StringIO()
    previous = [handler.setStream(buffer) for handler in handlers]
    yield buffer
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)


def test_it_logs_a_refused_admin_page_in_one_line_without_a_traceback(client, server_log) -> None:
    client.force_login(TutorFactory().user)

    response = client.get(reverse("admin:auth_group_changelist"))

    assert response.status_code == 403
    log = server_log.getvalue()
    request_lines = [line for line in log.splitlines() if " django.request: " in line]
    assert request_lines == [request_lines[0]]
    assert request_lines[0].endswith("WARNING django.request: Forbidden (Permission denied): /admin/auth/group/")
    assert "Traceback" not in log
    # Every line is a record of its own (a timestamp first), none the continuation of a traceback.
    assert all(line[:4].isdigit() for line in log.splitlines())


def test_it_still_logs_the_traceback_of_a_server_error(server_log) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        logging.getLogger("django.request").error(
            "Internal Server Error: /x/", exc_info=exc, extra={"status_code": 500}
        )

    log = server_log.getvalue()
    assert "Internal Server Error: /x/" in log
    assert "Traceback" in log and "RuntimeError: boom" in log
