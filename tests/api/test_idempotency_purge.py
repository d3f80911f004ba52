"""The hourly purge of lapsed Idempotency-Key answers (``bookings.tasks.purge_idempotency_keys``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django_q.models import Schedule

from api.idempotency import purge_lapsed
from api.models import IdempotencyKey, IdempotencyState
from bookings import tasks
from bookings.schedules import ensure_schedules
from tests.api.conftest import API, client_for
from tests.factories import SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db

WINDOW = timedelta(hours=24)  # API_IDEMPOTENCY_HOURS


def key(user, name: str, age: timedelta, now) -> IdempotencyKey:
    return IdempotencyKey.objects.create(
        user=user, key=name, fingerprint="f" * 64, state=IdempotencyState.DONE, created_at=now - age
    )


def test_it_deletes_every_users_lapsed_keys_and_keeps_the_replayable_ones(settings):
    settings.API_IDEMPOTENCY_HOURS = 24
    now = timezone.now()
    quiet, busy = StudentFactory(), StudentFactory()
    key(quiet, "old", WINDOW, now)  # exactly 24 h: no longer replayed
    key(busy, "older", WINDOW * 3, now)
    fresh = key(busy, "fresh", WINDOW - timedelta(seconds=1), now)

    with time_machine.travel(now, tick=False):
        assert tasks.purge_idempotency_keys() == {"purged": 2}
        assert tasks.purge_idempotency_keys() == {"purged": 0}  # safe to run twice

    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_it_deletes_in_batches_until_none_is_left(django_assert_num_queries):
    now = timezone.now()
    user = StudentFactory()
    for n in range(5):
        key(user, f"k{n}", WINDOW * 2, now)

    # Three batches of two (the last of one), then one query that finds none.
    with django_assert_num_queries(3 * 2 + 1):
        assert purge_lapsed(now=now, batch_size=2) == 5
    assert not IdempotencyKey.objects.exists()


def test_a_purged_key_can_be_used_again_for_a_new_request(student):
    first, second = SessionFactory(capacity=5), SessionFactory(capacity=5)
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        made = client_for(student).post(API + "bookings/", {"session": first.pk}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert made.status_code == 201

    with time_machine.travel(now + WINDOW, tick=False):
        assert purge_lapsed() == 1
        again = client_for(student).post(API + "bookings/", {"session": second.pk}, HTTP_IDEMPOTENCY_KEY="k-1")

    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert again.json()["session"]["id"] == second.pk


def test_setup_schedules_runs_it_hourly():
    ensure_schedules()

    schedule = Schedule.objects.get(name="purge_idempotency_keys")
    assert (schedule.func, schedule.schedule_type) == ("bookings.tasks.purge_idempotency_keys", Schedule.HOURLY)
