"""The notifications list: everyone reads their own (a superuser everyone's), and marks them read."""

from __future__ import annotations

import pytest
from django.urls import reverse

from realtime import inbox
from realtime.models import Notification
from tests.factories import ManagerFactory, OperatorFactory, TutorFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:realtime_notification_changelist"


def notify(user, title: str = "New booking") -> Notification:
    return Notification.objects.create(recipient=user, type="booking.created", title=title)


def shown(response) -> set[Notification]:
    assert response.status_code == 200
    return set(response.context["cl"].queryset)


@pytest.mark.parametrize("make_user", [OperatorFactory, ManagerFactory, lambda: TutorFactory().user])
def test_everyone_lists_only_their_own_notifications(client, make_user):
    user = make_user()
    mine = notify(user)
    notify(OperatorFactory())
    client.force_login(user)

    assert shown(client.get(reverse(CHANGELIST))) == {mine}


def test_a_superuser_lists_everyones(admin_client):
    everyone = {notify(OperatorFactory()), notify(TutorFactory().user)}

    assert shown(admin_client.get(reverse(CHANGELIST))) == everyone


def test_someone_elses_notification_answers_404(client):
    operator = OperatorFactory()
    theirs = notify(ManagerFactory())
    client.force_login(operator)

    assert client.get(reverse("admin:realtime_notification_change", args=[theirs.pk])).status_code == 404


def test_the_page_of_a_notification_shows_it_and_changes_nothing(client):
    operator = OperatorFactory()
    mine = notify(operator, title="Payment received")
    client.force_login(operator)
    page_url = reverse("admin:realtime_notification_change", args=[mine.pk])

    page = client.get(page_url)
    assert page.status_code == 200
    assert "Payment received" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()

    assert client.post(page_url, {"read": "on", "title": "Edited"}).status_code == 403
    mine.refresh_from_db()
    assert (mine.read, mine.title) == (False, "Payment received")


def test_mark_read_marks_the_selected_ones_and_says_how_many(client, django_capture_on_commit_callbacks):
    operator = OperatorFactory()
    first, second, left = notify(operator), notify(operator), notify(operator)
    client.force_login(operator)
    assert inbox.unread_count(operator.pk) == 3  # cached now

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse(CHANGELIST), {"action": "mark_read", "_selected_action": [first.pk, second.pk]}, follow=True
        )

    assert [str(m) for m in response.context["messages"]] == ["2 notification(s) marked as read."]
    assert set(Notification.objects.filter(read=True)) == {first, second}
    assert all(n.read_at for n in Notification.objects.filter(read=True))
    left.refresh_from_db()
    assert not left.read
    assert inbox.unread_count(operator.pk) == 1  # the cached count was dropped after commit


def test_a_superuser_cannot_mark_someone_elses_notification_read(admin_client):
    theirs = notify(OperatorFactory())

    response = admin_client.post(
        reverse(CHANGELIST), {"action": "mark_read", "_selected_action": [theirs.pk]}, follow=True
    )

    theirs.refresh_from_db()
    assert not theirs.read
    assert [str(m) for m in response.context["messages"]] == [
        "None of the selected notifications was yours and unread."
    ]


def test_nobody_adds_notifications_by_hand(client):
    client.force_login(ManagerFactory())

    assert client.get(reverse("admin:realtime_notification_add")).status_code == 403
