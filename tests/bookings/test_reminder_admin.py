"""The reminder admin: delivery shown per reminder, and "Send again" (row, page and bulk) through the service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.models import BookingEvent, CancelReason, Reminder, ReminderStatus
from bookings.notify import sms
from tests import pages
from tests.factories import OperatorFactory, SessionFactory, UserFactory, confirmed_booking

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:bookings_reminder_changelist"


@pytest.fixture(autouse=True)
def _locmem_sms(settings):
    settings.SMS_BACKEND = "locmem"
    sms.outbox.clear()


@pytest.fixture
def operator():
    return OperatorFactory()


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def failed() -> Reminder:
    booking = confirmed_booking(session=SessionFactory(starts_at=timezone.now() + timedelta(days=3)))
    reminder = Reminder.objects.get(booking=booking, kind="24h", channel="email")
    Reminder.objects.filter(pk=reminder.pk).update(
        status=ReminderStatus.FAILED, attempts=5, last_error="SMTPServerDisconnected: gone", scheduled_at=timezone.now()
    )
    reminder.refresh_from_db()
    return reminder


def send_again_url(reminder: Reminder) -> str:
    return reverse("admin:bookings_reminder_send_again_one", args=[reminder.pk])


def shown(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_it_lists_each_reminders_status_attempts_and_last_error(operator_client, failed: Reminder) -> None:
    page = operator_client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    html = page.content.decode()
    assert "SMTPServerDisconnected: gone" in html
    assert "Failed" in html
    assert send_again_url(failed) in pages.links(html, reverse(CHANGELIST))  # the row's action


def test_the_send_again_page_asks_and_changes_nothing_on_get(operator_client, failed: Reminder) -> None:
    page = operator_client.get(send_again_url(failed))
    assert page.status_code == 200
    assert "Send this reminder again?" in page.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (ReminderStatus.FAILED, 5)
    assert mail.outbox == []


def test_it_sends_a_failed_reminder_again_on_post(operator_client, operator, failed: Reminder) -> None:
    response = operator_client.post(send_again_url(failed), {"confirm": "yes"}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:bookings_reminder_change", args=[failed.pk])
    assert shown(response) == ["1 reminder(s) sent again."]
    failed.refresh_from_db()
    # The attempt limit does not stop staff: a person decided.
    assert (failed.status, failed.attempts, failed.last_error) == (ReminderStatus.SENT, 6, "")
    assert [m.to for m in mail.outbox] == [[failed.recipient.email]]
    resent = BookingEvent.objects.get(booking=failed.booking, action="reminder.resent")
    assert (resent.actor, resent.data["reminder"]) == (operator, failed.pk)


def test_the_bulk_action_sends_what_it_can_and_says_why_not_for_the_rest(operator_client, failed: Reminder) -> None:
    sent = Reminder.objects.get(booking=failed.booking, kind="24h", channel="sms")
    Reminder.objects.filter(pk=sent.pk).update(status=ReminderStatus.SENT, attempts=1)
    pending = Reminder.objects.get(booking=failed.booking, kind="1h", channel="email")
    other = confirmed_booking(session=SessionFactory(starts_at=timezone.now() + timedelta(days=2)))
    gone = Reminder.objects.get(booking=other, kind="24h", channel="email")
    Reminder.objects.filter(pk=gone.pk).update(status=ReminderStatus.FAILED, attempts=1)
    services.cancel(other, reason=CancelReason.STAFF)

    response = operator_client.post(
        reverse(CHANGELIST),
        {"action": "send_again_selected", helpers.ACTION_CHECKBOX_NAME: [failed.pk, sent.pk, pending.pk, gone.pk]},
        follow=True,
    )

    messages = shown(response)
    assert "2 reminder(s) sent again." in messages
    assert (
        f"Reminder 1h (E-mail) of {failed.booking.reference} is pending: only sent or failed reminders can be "
        "sent again." in messages
    )
    assert f"Reminder 24h (E-mail) of {other.reference} cannot be sent again: the booking is cancelled." in messages
    statuses = dict(
        Reminder.objects.filter(pk__in=[failed.pk, sent.pk, pending.pk, gone.pk]).values_list("pk", "status")
    )
    assert statuses == {
        failed.pk: ReminderStatus.SENT,
        sent.pk: ReminderStatus.SENT,
        pending.pk: ReminderStatus.PENDING,
        gone.pk: ReminderStatus.FAILED,
    }
    assert len(mail.outbox) == 1 and len(sms.outbox) == 1


def test_it_refuses_staff_who_may_only_view_reminders(client, failed: Reminder) -> None:
    # A role whose group has no reminder rights (a tutor), given the right to look only.
    viewer = UserFactory(role="tutor")
    viewer.user_permissions.add(Permission.objects.get(codename="view_reminder", content_type__app_label="bookings"))
    client.force_login(viewer)

    assert client.post(send_again_url(failed), {"confirm": "yes"}).status_code == 403
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert send_again_url(failed) not in page.content.decode()
    client.post(reverse(CHANGELIST), {"action": "send_again_selected", helpers.ACTION_CHECKBOX_NAME: [failed.pk]})
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (ReminderStatus.FAILED, 5)
    assert mail.outbox == []
