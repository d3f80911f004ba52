"""An operator's morning, in a real browser: book a student onto a session, see the seats drop,
cancel with a reason, read the history; and a tutor who sees only their own sessions."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from bookings.models import Booking, BookingStatus
from tests.factories import OperatorFactory, ProductFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db(transaction=True)


def pick(page, field: str, search: str) -> None:
    """Choose an option in an admin autocomplete (select2) by typing part of its label."""
    page.locator(f"#id_{field} + .select2, #id_{field} ~ .select2").first.click()
    page.locator(".select2-container--open .select2-search__field").fill(search)
    page.locator(".select2-results__option", has_text=search).first.click()


def seats_left(page, session) -> object:
    return page.locator(f'[data-session-seats="{session.pk}"]').first


def test_an_operator_books_a_seat_cancels_it_with_a_reason_and_reads_the_history(page, login, live_server, shot):
    session = SessionFactory(product=ProductFactory(name="IELTS mock exam", code="MOCK"), capacity=3, room="Hall A")
    student = StudentFactory(first_name="Dilnoza", last_name="Karimova", phone="+998901234567")
    login(OperatorFactory())

    page.goto("/admin/bookings/session/")
    expect(seats_left(page, session)).to_have_text("3 of 3 left")

    page.goto("/admin/bookings/booking/add/")
    pick(page, "session", "IELTS mock exam")
    pick(page, "student", "Karimova")
    page.locator("[name=_save]").click()
    expect(page.locator("body")).to_contain_text("was added successfully")
    booking = Booking.objects.get(session=session, student=student)
    shot(page, "operator-booking-created")

    page.goto("/admin/bookings/session/")
    expect(seats_left(page, session)).to_have_text("2 of 3 left")

    page.goto(f"/admin/bookings/booking/{booking.pk}/change/")
    page.locator(f'a[href$="/{booking.pk}/cancel/"]').first.click()
    page.locator("select[name=reason]").select_option("student")
    page.locator("input[name=note]").fill("Student is ill, will rebook next month.")
    shot(page, "operator-cancel-dialog")
    page.get_by_role("button", name="Cancel booking").click()
    expect(page.locator("body")).to_contain_text(f"Booking {booking.reference} cancelled")

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED and booking.cancel_reason == "student"
    history = page.locator("body")
    expect(history).to_contain_text("Booked")  # the history in words
    expect(history).to_contain_text("Cancelled")
    expect(history).to_contain_text("Student is ill, will rebook next month.")
    shot(page, "operator-booking-history")

    page.goto("/admin/bookings/session/")
    expect(seats_left(page, session)).to_have_text("3 of 3 left")


def test_a_tutor_sees_only_their_own_sessions(page, login, shot):
    aziza, james = TutorFactory(user__first_name="Aziza"), TutorFactory(user__first_name="James")
    mine = SessionFactory(tutor=aziza, room="Room 2")
    theirs = SessionFactory(tutor=james, room="Room 9")
    login(aziza.user)

    page.goto("/admin/bookings/session/")
    shot(page, "tutor-sessions")
    expect(page.locator(f'[data-session-seats="{mine.pk}"]')).to_have_count(1)
    expect(page.locator(f'[data-session-seats="{theirs.pk}"]')).to_have_count(0)
    expect(page.locator("#result_list")).not_to_contain_text("Room 9")
    shot(page, "tutor-sessions")

    response = page.goto(f"/admin/bookings/session/{theirs.pk}/change/")
    assert response.status == 404
