"""The import confirm when django-q2's broker (Redis) is down: a clear message and a failed import
record instead of a 500, nothing imported, and the person told as for any failed import."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse
from django_q.conf import Conf

from bookings.models import Booking, ImportRecord, ImportStatus
from realtime.models import Notification
from tests import broken_redis
from tests.bookings.test_admin_imports import _media_root, booking_rows, csv_upload, preview, sitting, url
from tests.factories import ManagerFactory, StudentFactory

# Committed for real: the request runs in autocommit as in production, so the enqueue runs (and
# fails) inside the confirm, before its answer.
pytestmark = pytest.mark.django_db(transaction=True)

# The import pages' own fixtures: a session to book, media in a temporary folder (autouse).
__all__ = ["_media_root", "sitting"]


@pytest.fixture
def broker_down(monkeypatch):
    """django-q2's Redis broker pointed at a port that refuses (Conf is read once, at import)."""
    with broken_redis.refusing() as url:
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", url)
        monkeypatch.setattr(Conf, "SYNC", False)
        yield url


def test_confirm_with_the_queue_down_says_so_and_imports_nothing(client, sitting, broker_down, caplog):
    manager = ManagerFactory()
    client.force_login(manager)
    confirm = preview(client, "bookings", csv_upload(booking_rows(sitting, StudentFactory.create_batch(2))))

    response = client.post(url("bookings", "process_import"), confirm.context["confirm_form"].initial, follow=True)

    assert response.status_code == 200
    record = ImportRecord.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:bookings_importrecord_change", args=[record.pk])
    shown = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert shown == [("error", record.message)]
    assert "could not be queued" in record.message and "Nothing was imported" in record.message
    assert record.status == ImportStatus.FAILED and record.finished_at is not None
    assert not Booking.objects.exists()
    assert Notification.objects.filter(recipient=manager, type="import.finished").exists()
    queue_lines = [r for r in caplog.records if r.name == "bookings.imports.runner" and r.levelno == logging.WARNING]
    assert len(queue_lines) == 1 and "ConnectionError" in queue_lines[0].getMessage()
