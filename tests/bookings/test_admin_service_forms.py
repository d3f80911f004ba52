"""Service-backed admin forms (bookings.admin.base.ServiceForm): validating writes nothing; saving
through the admin makes the one service call, and a refusal is the form's error with nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.sites import site
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingEvent, Session, SessionEvent
from tests.factories import ManagerFactory, ProductFactory, SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(db):
    return ManagerFactory()


def add_form(model: type, manager, data: dict):
    """The admin's own add form for ``model``, built as the admin builds it for this request."""
    request = RequestFactory().post("/", data)
    request.user = manager
    form_class = site._registry[model].get_form(request, None, change=False)
    return form_class(data)


def seats(session: Session) -> int:
    return Session.objects.values_list("seats_taken", flat=True).get(pk=session.pk)


def test_it_writes_nothing_when_the_add_booking_form_is_validated(manager):
    session, student = SessionFactory(capacity=5), StudentFactory()
    form = add_form(Booking, manager, {"session": session.pk, "student": student.pk, "payment_method": "cash"})

    assert form.is_valid(), form.errors
    assert form.is_valid()  # asking twice changes nothing either

    assert not Booking.objects.exists()
    assert not BookingEvent.objects.exists()
    assert seats(session) == 0


def test_it_writes_nothing_when_a_full_sessions_booking_is_validated(manager):
    session = SessionFactory(capacity=1)
    services.book(session=session, student=StudentFactory())
    late = StudentFactory()
    form = add_form(Booking, manager, {"session": session.pk, "student": late.pk, "payment_method": "cash"})

    # The input is well-formed: whether a seat is free is the service's to say, when the admin saves.
    assert form.is_valid(), form.errors
    assert not Booking.objects.filter(student=late).exists()
    assert seats(session) == 1


def test_it_books_once_when_the_admin_saves_the_add_form(client, manager):
    session, student = SessionFactory(capacity=5), StudentFactory()
    client.force_login(manager)

    response = client.post(
        reverse("admin:bookings_booking_add"), {"session": session.pk, "student": student.pk, "payment_method": "cash"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:bookings_booking_changelist")
    booking = Booking.objects.get(student=student)
    assert (booking.session_id, booking.created_by) == (session.pk, manager)
    assert seats(session) == 1
    assert booking.events.filter(action="booking.created").count() == 1


def test_a_refused_booking_is_shown_on_the_form_with_what_was_typed_and_writes_nothing(client, manager):
    session = SessionFactory(capacity=1)
    services.book(session=session, student=StudentFactory())
    late = StudentFactory()
    client.force_login(manager)

    response = client.post(
        reverse("admin:bookings_booking_add"), {"session": session.pk, "student": late.pk, "payment_method": "click"}
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert any("is full" in error for error in form.non_field_errors())
    assert form["payment_method"].value() == "click"  # the page keeps what was typed
    assert not Booking.objects.filter(student=late).exists()
    assert seats(session) == 1


def test_it_writes_nothing_when_the_add_session_form_is_validated(manager):
    product = ProductFactory()
    starts = timezone.localtime(timezone.now() + timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    data = {
        "product": product.pk,
        "tutor": "",
        "room": "Room 9",
        "starts_at_0": starts.strftime("%d/%m/%Y"),
        "starts_at_1": starts.strftime("%H:%M"),
        "capacity": "5",
        "status": "open",
    }
    form = add_form(Session, manager, data)

    assert form.is_valid(), form.errors

    assert not Session.objects.filter(product=product).exists()
    assert not SessionEvent.objects.exists()
