"""services.send_payment_link: the links by SMS and e-mail through the notification backends, in the history."""

from __future__ import annotations

import pytest

from bookings import services
from bookings.errors import BookingNotAllowed
from bookings.models import BookingEvent, CancelReason
from bookings.notify import sms
from bookings.payments.links import payment_links
from tests.factories import ManagerFactory, OperatorFactory, SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem_sms(settings):
    settings.SMS_BACKEND = "locmem"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


class BrokenSMS(sms.BaseSMSBackend):
    """An SMS gateway that is down (SMS_BACKEND takes a dotted path)."""

    def send(self, message):
        raise ConnectionError("gateway down")


def test_it_sends_both_links_by_sms_and_email_and_writes_the_history(booking, mailoutbox):
    operator = OperatorFactory()
    links = payment_links(booking)

    outcome = services.send_payment_link(booking, actor=operator)

    assert outcome == {"sms": "", "email": ""}
    assert [m.to for m in sms.outbox] == [str(booking.student.phone)]
    text = sms.outbox[0].body
    assert booking.reference in text and "350,000 UZS" in text
    assert links["click"] in text and links["payme"] in text
    assert [m.to for m in mailoutbox] == [[booking.student.email]]
    assert links["click"] in mailoutbox[0].body and links["payme"] in mailoutbox[0].body
    assert booking.reference in mailoutbox[0].subject
    event = BookingEvent.objects.get(booking=booking, action="payment.link_sent")
    assert event.actor == operator
    assert event.data == {
        "amount": "350000.00",
        "providers": "click, payme",
        "sms": f"sent to {booking.student.phone}",
        "email": f"sent to {booking.student.email}",
    }


def test_it_sends_by_one_channel_when_asked_or_when_the_student_has_only_one(booking, mailoutbox):
    services.send_payment_link(booking, actor=None, sms=False)
    assert sms.outbox == [] and len(mailoutbox) == 1

    student = StudentFactory(email="")
    other = services.book(session=booking.session, student=student)
    outcome = services.send_payment_link(other, actor=None)
    assert outcome == {"sms": ""}
    assert len(mailoutbox) == 1 and len(sms.outbox) == 1


def test_it_records_a_channel_that_failed_and_still_sends_the_other(booking, mailoutbox, settings):
    settings.SMS_BACKEND = f"{__name__}.BrokenSMS"

    outcome = services.send_payment_link(booking, actor=None)

    assert outcome["sms"] == "ConnectionError: gateway down" and outcome["email"] == ""
    assert len(mailoutbox) == 1
    event = BookingEvent.objects.get(booking=booking, action="payment.link_sent")
    assert event.data["sms"] == f"not sent to {booking.student.phone}: ConnectionError: gateway down"


@pytest.mark.parametrize("state", ["paid", "cancelled"])
def test_it_refuses_a_booking_that_is_not_waiting_for_money_and_sends_nothing(booking, mailoutbox, state):
    if state == "paid":
        services.record_payment(booking, provider="cash", amount=booking.price)
    else:
        services.cancel(booking, reason=CancelReason.STAFF)

    with pytest.raises(BookingNotAllowed):
        services.send_payment_link(booking, actor=ManagerFactory())

    assert sms.outbox == [] and mailoutbox == []
    assert not BookingEvent.objects.filter(action="payment.link_sent").exists()


def test_it_refuses_a_student_it_cannot_reach(mailoutbox):
    booking = services.book(session=SessionFactory(), student=StudentFactory(email="", phone=""))
    with pytest.raises(BookingNotAllowed, match="no phone number or e-mail address"):
        services.send_payment_link(booking, actor=None)
    with pytest.raises(BookingNotAllowed, match="Choose"):
        services.send_payment_link(booking, actor=None, sms=False, email=False)
    assert not BookingEvent.objects.filter(action="payment.link_sent").exists()


def test_it_refuses_when_no_provider_is_set_up(booking, settings):
    settings.CLICK_SERVICE_ID = settings.PAYME_MERCHANT_ID = ""
    with pytest.raises(BookingNotAllowed, match="Neither Click nor Payme"):
        services.send_payment_link(booking, actor=None)
    assert sms.outbox == []
