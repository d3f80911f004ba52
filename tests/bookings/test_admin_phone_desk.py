"""Booking on the phone (issue 14): the add form's pickers, the book buttons, phones on the pages,
cash with change and a receipt, and an old reference that finds the booking it moved to."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from bookings import services
from bookings.models import Payment, Session
from bookings.selectors import live_booking_for, search_sessions
from tests.factories import (
    OperatorFactory,
    ProductFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)  # Thu 03 Dec 2026, 12:00 in Tashkent
PICK_SESSION = reverse("admin:bookings_booking_pick_session")
PICK_STUDENT = reverse("admin:bookings_booking_pick_student")


def at(day: int, hour: int) -> datetime:
    """A Tashkent (UTC+5) time in December 2026."""
    return datetime(2026, 12, day, hour - 5, 0, tzinfo=UTC)


@pytest.fixture
def operator_client(db) -> Client:
    client = Client()
    client.force_login(OperatorFactory())
    return client


@pytest.fixture
def tutor_client(db) -> Client:
    client = Client()
    client.force_login(TutorFactory().user)
    return client


@pytest.fixture
def traveller():
    with time_machine.travel(NOW, tick=False):
        yield


def texts(response) -> list[str]:
    assert response.status_code == 200
    return [row["text"] for row in response.json()["results"]]


# --- search_sessions: the rule ---------------------------------------------------------------------


@pytest.mark.parametrize("term", ["Wed 09 Dec", "09 Dec", "9 dec", "2026-12-09", "9/12", "09.12.2026", "Dec 9"])
def test_it_finds_a_session_by_the_date_as_typed(traveller, term):
    wanted = SessionFactory(starts_at=at(9, 9))
    SessionFactory(starts_at=at(10, 9))

    assert list(search_sessions(Session.objects.all(), term)) == [wanted]


def test_it_reads_a_date_without_a_year_as_the_nearest_one(traveller):
    january = SessionFactory(starts_at=datetime(2027, 1, 9, 4, 0, tzinfo=UTC))

    assert list(search_sessions(Session.objects.all(), "9 Jan")) == [january]
    assert list(search_sessions(Session.objects.all(), "31/02")) == []


def test_it_finds_sessions_by_product_code_tutor_room_and_time(traveller):
    tutor = TutorFactory(user__first_name="Aziza", user__last_name="Karimova")
    speaking = SessionFactory(
        product=ProductFactory(name="Speaking club", code="SPK"), tutor=tutor, starts_at=at(9, 14)
    )
    mock = SessionFactory(product=ProductFactory(name="IELTS mock", code="MOCK"), room="Hall A", starts_at=at(9, 9))
    sessions = Session.objects.all()

    assert list(search_sessions(sessions, "speaking")) == [speaking]
    assert list(search_sessions(sessions, "spk")) == [speaking]
    assert list(search_sessions(sessions, "Karimova")) == [speaking]
    assert list(search_sessions(sessions, "hall a")) == [mock]
    assert list(search_sessions(sessions, "09 Dec 09:00")) == [mock]
    assert list(search_sessions(sessions, "Wed mock")) == [mock]
    assert list(search_sessions(sessions, "Thu")) == []


# --- The pickers -----------------------------------------------------------------------------------


def test_the_session_picker_offers_only_bookable_sessions_with_seats_left(
    traveller, operator_client, django_assert_num_queries
):
    mock = ProductFactory(name="IELTS mock")
    open_one = SessionFactory(product=mock, room="Hall A", capacity=30, starts_at=at(9, 9))
    full = SessionFactory(product=mock, capacity=1, starts_at=at(9, 11))
    services.book(session=full, student=StudentFactory())
    SessionFactory(product=mock, starts_at=at(9, 13), status="closed")
    SessionFactory(product=mock, tutor=TutorFactory(min_notice_hours=24), starts_at=at(3, 20))  # inside notice
    SessionFactory(product=mock, starts_at=at(3, 10))  # started
    for _ in range(3):
        services.book(session=open_one, student=StudentFactory())

    with django_assert_num_queries(6):  # session, user, its permissions (2), notices, the sessions
        found = texts(operator_client.get(PICK_SESSION, {"term": "Wed 09 Dec"}))

    assert found == ["Wed 09 Dec 09:00 · IELTS mock · Hall A · 27 of 30 left"]
    assert texts(operator_client.get(PICK_SESSION, {"term": "2026-12-03"})) == []


def test_the_session_picker_leaves_out_what_the_chosen_student_holds(traveller, operator_client):
    student = StudentFactory()
    held = SessionFactory(starts_at=at(9, 9))
    other = SessionFactory(starts_at=at(9, 15))
    services.book(session=held, student=student)

    ids = [row["id"] for row in operator_client.get(PICK_SESSION, {"student": student.pk}).json()["results"]]

    assert ids == [str(other.pk)]
    assert len(operator_client.get(PICK_SESSION, {"student": "junk"}).json()["results"]) == 2


@pytest.mark.parametrize("term", ["90 123 45 67", "+998901234567", "998 90 1234567", "+998 90 123 45 67", "Karimova"])
def test_the_student_picker_finds_a_phone_in_any_format_and_shows_it(operator_client, term, django_assert_num_queries):
    StudentFactory(first_name="Dilnoza", last_name="Karimova", phone="+998901234567")
    StudentFactory(first_name="Other", last_name="Person", phone="+998911112233")
    OperatorFactory(first_name="Staff", last_name="Karimova", phone="+998901234500")

    with django_assert_num_queries(5):  # session, user, its permissions (2), the students
        found = texts(operator_client.get(PICK_STUDENT, {"term": term}))

    assert found == ["Dilnoza Karimova · +998 90 123 45 67"]


def test_a_tutor_cannot_use_the_pickers(tutor_client):
    assert tutor_client.get(PICK_SESSION).status_code == 403
    assert tutor_client.get(PICK_STUDENT).status_code == 403


def test_the_add_form_is_prefilled_from_the_book_buttons(traveller, operator_client):
    session = SessionFactory(product=ProductFactory(name="IELTS mock"), room="Hall A", starts_at=at(9, 9))
    student = StudentFactory(first_name="Dilnoza", last_name="Karimova", phone="+998901234567")

    from_session = operator_client.get(reverse("admin:bookings_session_book_student", args=[session.pk]))
    from_student = operator_client.get(reverse("admin:backoffice_student_book_session", args=[student.pk]))
    html = operator_client.get(f"{reverse('admin:bookings_booking_add')}?session={session.pk}&student={student.pk}")

    assert from_session.url == f"{reverse('admin:bookings_booking_add')}?session={session.pk}"
    assert from_student.url == f"{reverse('admin:bookings_booking_add')}?student={student.pk}"
    page = html.content.decode()
    assert "Wed 09 Dec 09:00 · IELTS mock · Hall A · 30 of 30 left" in page
    assert "Dilnoza Karimova · +998 90 123 45 67" in page
    assert 'data-picker="session"' in page and PICK_SESSION in page


def test_the_book_buttons_are_shown_to_operators_and_never_to_tutors(traveller, operator_client):
    tutor = TutorFactory()
    session = SessionFactory(tutor=tutor, starts_at=at(9, 9))
    student = StudentFactory()
    tutor_client = Client()
    tutor_client.force_login(tutor.user)
    book_student = reverse("admin:bookings_session_book_student", args=[session.pk])
    book_session = reverse("admin:backoffice_student_book_session", args=[student.pk])

    assert (
        book_student
        in operator_client.get(reverse("admin:bookings_session_change", args=[session.pk])).content.decode()
    )
    assert (
        book_session
        in operator_client.get(reverse("admin:backoffice_student_change", args=[student.pk])).content.decode()
    )
    assert (
        book_student
        not in tutor_client.get(reverse("admin:bookings_session_change", args=[session.pk])).content.decode()
    )
    assert tutor_client.get(book_student).status_code == 403
    assert tutor_client.get(reverse("admin:bookings_booking_add")).status_code == 403


# --- Phones on the pages -------------------------------------------------------------------------------


def test_the_booking_page_and_the_sessions_bookings_show_the_phone(traveller, operator_client):
    booking = services.book(session=SessionFactory(starts_at=at(9, 9)), student=StudentFactory(phone="+998901234567"))

    booking_page = operator_client.get(reverse("admin:bookings_booking_change", args=[booking.pk])).content.decode()
    session_page = operator_client.get(
        reverse("admin:bookings_session_change", args=[booking.session_id])
    ).content.decode()

    assert "+998 90 123 45 67" in booking_page
    assert "+998 90 123 45 67" in session_page


# --- Cash -----------------------------------------------------------------------------------------------


def test_cash_keeps_the_amount_owed_and_reports_the_change_with_a_receipt(traveller, operator_client):
    booking = services.book(session=SessionFactory(starts_at=at(9, 9)), student=StudentFactory(phone="+998901234567"))
    url = reverse("admin:bookings_booking_mark_paid", args=[booking.pk])

    form = operator_client.get(url).content.decode()
    response = operator_client.post(url, {"confirm": "yes", "amount": "350000", "handed_over": "400000"}, follow=True)

    assert 'value="350000"' in form and "data-handed-over" in form
    payment = Payment.objects.get(booking=booking)
    assert payment.amount == Decimal("350000")
    message = next(str(m) for m in response.context["messages"])
    assert "change due 50,000 UZS" in message
    receipt_url = reverse("admin:bookings_booking_receipt", args=[booking.pk, payment.pk])
    assert receipt_url in message
    assert receipt_url in response.content.decode()  # the booking's payments link it too


def test_cash_refuses_more_than_is_owed_and_less_handed_over(traveller, operator_client):
    booking = services.book(session=SessionFactory(starts_at=at(9, 9)), student=StudentFactory())
    url = reverse("admin:bookings_booking_mark_paid", args=[booking.pk])

    more = operator_client.post(url, {"confirm": "yes", "amount": "400000"})
    short = operator_client.post(url, {"confirm": "yes", "amount": "350000", "handed_over": "300000"})

    assert "only 350,000 UZS is still owed" in more.content.decode()
    assert "Less than the amount recorded" in short.content.decode()
    assert not Payment.objects.filter(booking=booking).exists()


def test_the_receipt_shows_what_was_taken_and_a_tutor_cannot_open_it(traveller, operator_client):
    tutor = TutorFactory()
    operator = OperatorFactory(first_name="Madina", last_name="Desk")
    booking = services.book(
        session=SessionFactory(tutor=tutor, starts_at=at(9, 9)), student=StudentFactory(phone="+998901234567")
    )
    payment = services.record_payment(booking, provider="cash", amount=Decimal("350000"), actor=operator)
    url = reverse("admin:bookings_booking_receipt", args=[booking.pk, payment.pk])
    tutor_client = Client()
    tutor_client.force_login(tutor.user)

    html = operator_client.get(url).content.decode()

    for text in (booking.reference, "+998 90 123 45 67", "350,000 UZS", "Cash", "Madina Desk", "03 Dec 2026, 12:00"):
        assert text in html
    assert "bookings/receipt.css" in html
    assert tutor_client.get(url).status_code == 404
    assert operator_client.get(reverse("admin:bookings_booking_receipt", args=[booking.pk, 999999])).status_code == 404


# --- An old reference ----------------------------------------------------------------------------------


def test_an_old_reference_finds_the_booking_it_was_rescheduled_to(
    traveller, operator_client, django_assert_num_queries
):
    product = ProductFactory()
    first = services.book(session=SessionFactory(product=product, starts_at=at(9, 9)), student=StudentFactory())
    second = services.reschedule(first, to_session=SessionFactory(product=product, starts_at=at(10, 9)))
    live = services.reschedule(second, to_session=SessionFactory(product=product, starts_at=at(11, 9)))

    with django_assert_num_queries(3):  # one per move, and one finding no further move
        assert live_booking_for(first.reference.lower()) == live
    with django_assert_num_queries(1):
        assert live_booking_for(live.reference) is None

    listed = operator_client.get(reverse("admin:bookings_booking_changelist"), {"q": first.reference})
    assert live in list(listed.context["cl"].result_list)
