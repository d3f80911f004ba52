from __future__ import annotations

import threading
import uuid
from unittest import mock

import pytest
from django.db import transaction

from bookings import services
from realtime import delivery, events
from realtime.models import Notification
from tests.factories import LessonFactory, SessionFactory, StudentFactory, TutorFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_sends_the_designed_envelope_to_each_group_after_commit(django_capture_on_commit_callbacks):
    with mock.patch("realtime.events._deliver") as deliver:
        with django_capture_on_commit_callbacks(execute=True):
            message = events.publish("slot.updated", {"session": 1}, groups=["staff", "session.1", "staff"])
    assert set(message) == {"type", "id", "at", "data"}
    assert message["type"] == "slot.updated"
    assert message["at"].endswith("Z")
    deliver.assert_called_once_with([(message, ["staff", "session.1"], [])])


def test_a_batch_gets_distinct_version_4_ids_and_one_timestamp():
    messages = events.publish_many([("slot.updated", {"session": n}, [], []) for n in range(500)])
    ids = [uuid.UUID(message["id"]) for message in messages]
    assert len(set(ids)) == 500
    assert {(i.version, i.variant) for i in ids} == {(4, uuid.RFC_4122)}
    assert [str(i) for i in ids] == [message["id"] for message in messages]  # canonical lower-case form
    assert len({message["at"] for message in messages}) == 1


def test_it_stores_a_notification_per_recipient():
    people = [UserFactory(), UserFactory()]
    events.publish("feedback.requested", {"summary": "Essay from Ali"}, groups=[], recipients=[*people, people[0].pk])
    stored = Notification.objects.order_by("recipient_id")
    assert [n.recipient_id for n in stored] == sorted(p.pk for p in people)
    assert stored[0].title == "Feedback to review"
    assert stored[0].message == "Essay from Ali"


def test_it_refuses_an_unknown_event_type():
    with pytest.raises(ValueError, match="Unknown event type"):
        events.publish("booking.teleported", {}, groups=["staff"])


def test_a_rolled_back_transaction_sends_nothing_and_stores_nothing(django_capture_on_commit_callbacks):
    tutor = TutorFactory()
    session = SessionFactory(product=LessonFactory(), tutor=tutor)
    with mock.patch("realtime.events._deliver") as deliver, django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            services.book(session=session, student=StudentFactory())
            transaction.set_rollback(True)
    deliver.assert_not_called()
    assert not Notification.objects.exists()


def test_a_broken_channel_layer_never_breaks_the_booking(django_capture_on_commit_callbacks, caplog):
    class BrokenLayer:
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    session = SessionFactory()
    with mock.patch("realtime.delivery.get_channel_layer", return_value=BrokenLayer()):
        with django_capture_on_commit_callbacks(execute=True):
            booking = services.book(session=session, student=StudentFactory())
    delivery.flush()
    assert booking.pk is not None
    assert "Could not deliver" in caplog.text


def test_publish_later_builds_nothing_when_no_one_listens_to_the_in_memory_layer(
    settings, django_capture_on_commit_callbacks
):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    build = mock.Mock(return_value=[("slot.updated", {"session": 1}, ["staff"])])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        events.publish_later(build)
    assert len(callbacks) == 1
    build.assert_not_called()  # a worker process: no socket here, so no envelope is built


def test_publish_later_sends_nothing_for_a_rolled_back_transaction(django_capture_on_commit_callbacks):
    build = mock.Mock(return_value=[("slot.updated", {"session": 1}, ["staff"])])
    with mock.patch("realtime.events.deliver_later") as deliver_later, django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            events.publish_later(build)
            transaction.set_rollback(True)
    deliver_later.assert_not_called()
    build.assert_not_called()


def test_publish_later_builds_the_envelopes_on_the_courier_thread_after_commit(django_capture_on_commit_callbacks):
    sent: list[tuple[str, dict]] = []
    built_on: list[str] = []

    class Layer:  # any layer but the in-memory one goes through the courier
        async def group_send(self, group, message):
            sent.append((group, message))

    def build():
        built_on.append(threading.current_thread().name)
        return [("booking.expired", {"booking": 7}, ["staff", "session.3", "staff"]), ("slot.updated", {}, [])]

    with mock.patch("realtime.delivery.get_channel_layer", return_value=Layer()):
        with django_capture_on_commit_callbacks(execute=True):
            events.publish_later(build)
            assert built_on == []  # nothing before commit
        delivery.flush()
    assert built_on == ["realtime-courier"]
    assert [group for group, _ in sent] == ["staff", "session.3"]  # duplicates dropped, no groups no send
    envelope = sent[0][1]["event"]
    assert set(envelope) == {"type", "id", "at", "data"} and envelope["data"] == {"booking": 7}
    assert uuid.UUID(envelope["id"]).version == 4 and envelope["at"].endswith("Z")
    assert sent[0][1]["for"] == [] and sent[0][1] == sent[1][1]
