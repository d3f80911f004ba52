"""A real ``manage.py qcluster`` process, on the ORM broker and the test database, expires a due booking."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingStatus, CancelReason, Session
from bookings.schedules import ensure_schedules
from tests.factories import SessionFactory, StudentFactory
from tests.servers import ROOT, database_url

pytestmark = pytest.mark.django_db(transaction=True)

# django-q2's sentinel runs the scheduler every ~30 s; then a worker picks the task up from the ORM queue.
WAIT_SECONDS = 90


def test_a_running_cluster_expires_a_due_booking():
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"] in ("", ":memory:"):
        pytest.skip("another process needs the test database in a file")
    # Transactional tests start from an empty database: the schedules come from the setup step,
    # whose new schedules are due at once, so the cluster's first scheduler pass runs the expiry.
    ensure_schedules()
    booking = services.book(session=SessionFactory(capacity=2), student=StudentFactory())
    Booking.objects.filter(pk=booking.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    env.pop("REDIS_URL", None)  # the embedded default: the ORM broker on the same database
    with tempfile.TemporaryFile() as log:
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while time.monotonic() < deadline and cluster.poll() is None:
                booking.refresh_from_db()
                if booking.status != BookingStatus.PENDING:
                    break
                time.sleep(0.5)
        finally:
            cluster.terminate()
            try:
                cluster.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cluster.kill()
                cluster.wait()
        log.seek(0)
        output = log.read().decode(errors="replace")[-3000:]

    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.EXPIRED), output
    assert Session.objects.get(pk=booking.session_id).seats_taken == 0
    assert booking.events.filter(action="booking.expired", actor=None).count() == 1
