"""A tutor's open admin page hears about a booking the moment an operator makes it: a toast, and
the bell's unread count goes up, without a reload. Served by daphne (WebSockets); both people
work in the same server process, so this runs on the embedded in-memory layer as well."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bookings.models import Booking
from tests.e2e.conftest import log_in
from tests.factories import OperatorFactory, SessionFactory, StudentFactory, TutorFactory
from tests.servers import daphne

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_tutor_sees_a_toast_and_the_unread_count_when_an_operator_books_their_session(open_page, shot):
    tutor = TutorFactory()
    session = SessionFactory(tutor=tutor, capacity=4)
    student = StudentFactory(first_name="Dilnoza", last_name="Karimova")
    operator = OperatorFactory()

    with daphne() as base:
        tutor_page = open_page(base)
        log_in(tutor_page, tutor.user)
        bell = tutor_page.locator("#sd-bell")
        expect(bell).to_have_attribute("data-unread", "0")
        # The client is connected once the hello has set the count; give it that moment.
        tutor_page.wait_for_function("() => window.SeatdeskLive !== undefined")

        operator_page = open_page(base)
        log_in(operator_page, operator)
        operator_page.goto("/admin/bookings/booking/add/")
        token = operator_page.input_value("input[name=csrfmiddlewaretoken]")
        response = operator_page.request.post(
            "/admin/bookings/booking/add/",
            form={
                "csrfmiddlewaretoken": token,
                "session": str(session.pk),
                "student": str(student.pk),
                "payment_method": "cash",
                "_save": "Save",
            },
            headers={"Referer": f"{base}/admin/bookings/booking/add/"},
        )
        assert response.ok
        booking = Booking.objects.get(session=session, student=student)

        toast = tutor_page.locator("#sd-toasts .sd-toast").filter(has_text="New booking")
        expect(toast).to_be_visible()
        expect(toast).to_contain_text(booking.reference)
        expect(bell).to_have_attribute("data-unread", "1")
        shot(tutor_page, "live-toast-tutor")
