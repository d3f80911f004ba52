"""The booking page's payment links (with copy buttons) and its "Send payment link" action."""

from __future__ import annotations

import html as html_lib

import pytest
from django.urls import reverse

from bookings import services
from bookings.models import BookingEvent, BookingStatus
from bookings.notify import sms
from bookings.payments.links import payment_links
from tests import pages
from tests.factories import OperatorFactory, StudentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem_sms(settings):
    settings.SMS_BACKEND = "locmem"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def operator_client(client):
    client.force_login(OperatorFactory())
    return client


def booking_url(booking) -> str:
    return reverse("admin:bookings_booking_change", args=[booking.pk])


def send_url(booking) -> str:
    return reverse("admin:bookings_booking_send_payment_link", args=[booking.pk])


def shown_messages(response) -> list[tuple[str, str]]:
    return [(message.tags, str(message)) for message in response.context["messages"]]


def test_the_booking_page_shows_both_links_with_copy_buttons(operator_client, booking):
    html = operator_client.get(booking_url(booking)).content.decode()

    links = payment_links(booking)
    for provider in ("click", "payme"):
        assert f'value="{html_lib.escape(links[provider])}" id="payment-link-{provider}"' in html
        assert f'data-copy-link="payment-link-{provider}"' in html
    # The buttons' script is a static file: the Content-Security-Policy runs no inline script.
    assert 'src="/static/bookings/payment_links.js"' in html
    assert send_url(booking) in html


def test_a_paid_booking_has_no_links_and_no_send_action(operator_client, booking):
    services.record_payment(booking, provider="cash", amount=booking.price)

    html = operator_client.get(booking_url(booking)).content.decode()

    assert "data-copy-link" not in html
    assert "No payment links: nothing is owed, or the booking is closed" in html
    assert send_url(booking) not in html


def test_the_list_offers_sending_the_link_only_for_pending_bookings_that_owe(operator_client, booking):
    paid = services.book(session=booking.session, student=StudentFactory())
    services.record_payment(paid, provider="cash", amount=paid.price)

    url = reverse("admin:bookings_booking_changelist")
    found = pages.links(operator_client.get(url).content.decode(), url)

    assert send_url(booking) in found
    assert send_url(paid) not in found


def test_the_send_form_shows_where_it_goes_and_changes_nothing_on_get(operator_client, booking, mailoutbox):
    response = operator_client.get(send_url(booking))

    assert response.status_code == 200
    form = response.context["form"]
    assert (form.fields["by_sms"].initial, form.fields["by_email"].initial) == (True, True)
    html = response.content.decode()
    assert str(booking.student.phone) in html and booking.student.email in html
    assert 'id="dialog"' in html
    assert sms.outbox == [] and mailoutbox == []


def test_sending_the_link_delivers_both_and_writes_the_history(operator_client, booking, mailoutbox):
    response = operator_client.post(send_url(booking), {"by_sms": "on", "by_email": "on"}, follow=True)

    assert response.redirect_chain[-1][0] == booking_url(booking)
    assert shown_messages(response) == [
        (
            "success",
            f"Payment link for {booking.reference} sent by SMS to {booking.student.phone} "
            f"and by e-mail to {booking.student.email}.",
        )
    ]
    assert len(sms.outbox) == 1 and len(mailoutbox) == 1
    event = BookingEvent.objects.get(booking=booking, action="payment.link_sent")
    assert event.actor == response.wsgi_request.user
    assert "Payment link sent" in response.content.decode()  # on the page's history, in words


def test_a_failed_channel_is_reported_as_a_warning(operator_client, booking, mailoutbox, settings):
    settings.SMS_BACKEND = "tests.payments.test_send_payment_link.BrokenSMS"

    response = operator_client.post(send_url(booking), {"by_sms": "on", "by_email": "on"}, follow=True)

    [(level, text)] = shown_messages(response)
    assert level == "warning"
    assert f"sent by e-mail to {booking.student.email}" in text
    assert f"not sent by SMS to {booking.student.phone} (ConnectionError: gateway down)" in text


def test_a_student_without_a_phone_gets_the_email_only(operator_client, booking, mailoutbox):
    booking.student.phone = ""
    booking.student.save(update_fields=["phone"])

    form = operator_client.get(send_url(booking)).context["form"]
    assert form.fields["by_sms"].disabled and form.fields["by_sms"].help_text == "No phone number on file."

    operator_client.post(send_url(booking), {"by_sms": "on", "by_email": "on"})  # a tampered form
    assert sms.outbox == [] and len(mailoutbox) == 1


def test_a_booking_paid_meanwhile_is_refused_on_the_form_and_nothing_is_sent(operator_client, booking, mailoutbox):
    form_page = operator_client.get(send_url(booking))
    assert form_page.status_code == 200
    services.record_payment(booking, provider="cash", amount=booking.price)

    response = operator_client.post(send_url(booking), {"by_sms": "on", "by_email": "on"})

    assert response.status_code == 200
    assert any("has nothing left to pay" in e for e in response.context["form"].non_field_errors())
    assert sms.outbox == [] and mailoutbox == []
    assert booking.events.filter(action="payment.link_sent").count() == 0
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
