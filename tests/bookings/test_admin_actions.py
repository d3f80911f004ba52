"""The one admin action mechanism (bookings.admin.actions): every action page, of bookings, payments,
sessions, tutors, reminders and feedback, is an ActionForm on the same page; GET writes nothing; the
list actions ask on the same page; a booking offers what its model predicates allow, on its page and
in its row alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.admin.booking_actions import ACTION_FORMS
from bookings.models import (
    Booking,
    BookingEvent,
    BookingStatus,
    FeedbackRequest,
    Payment,
    Reminder,
    Session,
    SessionEvent,
)
from tests import pages
from tests.factories import (
    FeedbackRequestFactory,
    LessonFactory,
    ManagerFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    booking_in,
    confirmed_booking,
)

pytestmark = pytest.mark.django_db

GENERIC = "admin/action_form.html"


@pytest.fixture
def manager_client(client):
    client.force_login(ManagerFactory())
    return client


def written() -> tuple[int, ...]:
    """Counts of everything an action could write."""
    return (
        Booking.objects.count(),
        BookingEvent.objects.count(),
        Payment.objects.count(),
        Session.objects.count(),
        SessionEvent.objects.count(),
        LogEntry.objects.count(),
        FeedbackRequest.objects.filter(tutor__isnull=False).count(),
        Reminder.objects.filter(attempts__gt=0).count(),
    )


def paid_in_cash() -> Payment:
    booking = services.book(session=SessionFactory(capacity=5), student=StudentFactory())
    return services.record_payment(booking, provider="cash", amount=booking.price)


def reminder() -> Reminder:
    booking = confirmed_booking(session=SessionFactory(starts_at=timezone.now() + timedelta(days=3)))
    return Reminder.objects.filter(booking=booking).first()


PAGES: dict[str, Callable[[], str]] = {
    "booking confirm": lambda: reverse(
        "admin:bookings_booking_confirm_booking",
        args=[services.book(session=SessionFactory(), student=StudentFactory()).pk],
    ),
    "booking cancel": lambda: reverse(
        "admin:bookings_booking_cancel_booking",
        args=[services.book(session=SessionFactory(), student=StudentFactory()).pk],
    ),
    "payment refund": lambda: reverse("admin:bookings_payment_refund_payment", args=[paid_in_cash().pk]),
    "session cancel": lambda: reverse("admin:bookings_session_cancel_detail", args=[SessionFactory().pk]),
    "session close": lambda: reverse("admin:bookings_session_close_detail", args=[SessionFactory().pk]),
    "session duplicate": lambda: reverse("admin:bookings_session_duplicate_detail", args=[SessionFactory().pk]),
    "tutor generate": lambda: reverse("admin:bookings_tutor_generate_sessions_detail", args=[TutorFactory().pk]),
    "reminder send again": lambda: reverse("admin:bookings_reminder_send_again_one", args=[reminder().pk]),
    "feedback assign": lambda: reverse("admin:bookings_feedbackrequest_assign", args=[FeedbackRequestFactory().pk]),
    "feedback score": lambda: reverse("admin:bookings_feedbackrequest_score", args=[FeedbackRequestFactory().pk]),
}


@pytest.mark.parametrize("name", PAGES)
def test_every_action_page_is_the_one_page_and_its_get_writes_nothing(manager_client, name):
    url = PAGES[name]()
    before = written()

    response = manager_client.get(url)

    assert response.status_code == 200
    assert GENERIC in [t.name for t in response.templates]
    html = response.content.decode()
    assert 'id="dialog"' in html  # what unfold's modal keeps
    assert 'name="csrfmiddlewaretoken"' in html and 'name="confirm" value="yes"' in html
    assert f'action="{url}"' in html
    assert written() == before


LIST_ACTIONS = {
    "booking cancel": (
        "booking",
        "cancel_selected",
        lambda: services.book(session=SessionFactory(), student=StudentFactory()),
    ),
    "session duplicate": ("session", "duplicate_sessions", SessionFactory),
    "tutor generate": ("tutor", "generate_sessions_selected", TutorFactory),
    "feedback assign": ("feedbackrequest", "assign_selected", FeedbackRequestFactory),
}


@pytest.mark.parametrize("name", LIST_ACTIONS)
def test_every_list_action_asks_on_the_same_page_carrying_the_picked_rows(manager_client, name):
    model, action, make = LIST_ACTIONS[name]
    picked = [make(), make()]
    before = written()

    response = manager_client.post(
        reverse(f"admin:bookings_{model}_changelist"), {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in picked]}
    )

    assert response.status_code == 200
    assert GENERIC in [t.name for t in response.templates]
    html = response.content.decode()
    assert f'name="action" value="{action}"' in html
    for obj in picked:
        assert f'name="{ACTION_CHECKBOX_NAME}" value="{obj.pk}"' in html
    assert 'name="confirm" value="yes"' in html
    assert written() == before


def offered(html: str, booking: Booking, page_url: str) -> set[str]:
    found = pages.links(html, page_url)
    return {name for name in ACTION_FORMS if reverse(f"admin:bookings_booking_{name}", args=[booking.pk]) in found}


@pytest.mark.parametrize(
    ("status", "started", "expected"),
    [
        (BookingStatus.PENDING, False, {"confirm_booking", "mark_paid", "cancel_booking", "reschedule_booking"}),
        (BookingStatus.CONFIRMED, False, {"cancel_booking", "reschedule_booking"}),
        (BookingStatus.CONFIRMED, True, {"cancel_booking", "reschedule_booking", "mark_no_show", "complete_booking"}),
        (BookingStatus.CANCELLED, False, set()),
        (BookingStatus.COMPLETED, True, set()),
    ],
)
def test_a_booking_offers_on_its_page_and_in_its_row_what_its_state_allows(manager_client, status, started, expected):
    session = SessionFactory(capacity=5)
    booking = booking_in(status, session=session)
    if booking.status == BookingStatus.CONFIRMED:
        services.record_payment(booking, provider="cash", amount=booking.price)  # nothing left to take
    clock = session.starts_at + timedelta(minutes=5) if started else timezone.now()

    page_url = reverse("admin:bookings_booking_change", args=[booking.pk])
    list_url = reverse("admin:bookings_booking_changelist")
    with time_machine.travel(clock, tick=False):
        page = manager_client.get(page_url).content.decode()
        row = manager_client.get(list_url).content.decode()

    assert offered(page, booking, page_url) == offered(row, booking, list_url) == expected


def test_the_bulk_page_shows_any_number_of_bookings_in_the_same_queries(manager_client):
    def page_queries(count: int) -> int:
        bookings = [
            services.book(
                session=SessionFactory(product=LessonFactory(), tutor=TutorFactory()), student=StudentFactory()
            )
            for _ in range(count)
        ]
        data = {"action": "mark_paid_selected", ACTION_CHECKBOX_NAME: [b.pk for b in bookings]}
        with CaptureQueriesContext(connection) as queries:
            response = manager_client.post(reverse("admin:bookings_booking_changelist"), data)
        assert response.status_code == 200
        assert all(b.reference in response.content.decode() for b in bookings)
        return len(queries)

    page_queries(1)  # warm the session and content-type caches
    assert page_queries(2) == page_queries(6)
