"""Booking on the phone, in a real browser (issue 14): from a student's page to a booked seat found
by its date, then cash with the change due and a printed receipt. Screenshots in /tmp/shots/h9/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bookings.models import Booking
from tests.e2e.conftest import SCREENSHOTS
from tests.factories import OperatorFactory, ProductFactory, SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = SCREENSHOTS  # tests/e2e/screenshots/ (ignored by git)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_an_operator_books_a_caller_by_date_and_takes_cash_with_change(page, login):
    starts = (timezone.localtime() + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    session = SessionFactory(product=ProductFactory(name="IELTS mock"), room="Hall A", capacity=30, starts_at=starts)
    SessionFactory(product=ProductFactory(name="Speaking club"), starts_at=starts + timedelta(days=1))
    student = StudentFactory(first_name="Dilnoza", last_name="Karimova", phone="+998901234567")
    login(OperatorFactory(first_name="Madina", last_name="Desk"))

    page.goto(f"/admin/backoffice/student/{student.pk}/change/")
    page.get_by_role("link", name="Book a session").click()
    page.wait_for_url("**/admin/bookings/booking/add/?student=*")
    expect(page.locator("#select2-id_student-container")).to_have_text("Dilnoza Karimova · +998 90 123 45 67")

    page.locator("#id_session + .select2").click()
    page.locator(".select2-container--open .select2-search__field").fill(f"{starts:%d %b}")
    option = page.locator(".select2-results__option", has_text="IELTS mock")
    expect(option).to_have_text(f"{starts:%a %d %b} 09:00 · IELTS mock · Hall A · 30 of 30 left")
    expect(page.locator(".select2-results__option", has_text="Speaking club")).to_have_count(0)
    shot(page, "1-session-picker-by-date")
    option.click()
    page.locator("[name=_save]").click()
    expect(page.locator("body")).to_contain_text("was added successfully")
    booking = Booking.objects.get(session=session, student=student)

    page.goto(f"/admin/bookings/booking/{booking.pk}/change/")
    expect(page.locator("body")).to_contain_text("+998 90 123 45 67")
    shot(page, "4-booking-page-phone")
    page.goto(f"/admin/bookings/booking/{booking.pk}/pay-cash/")
    expect(page.locator("input[name=amount]")).to_have_value("350000")
    page.locator("input[name=handed_over]").fill("400000")
    expect(page.locator("[data-change-due]")).to_have_text("Change due: 50,000 UZS")
    shot(page, "5-cash-change-due")
    page.get_by_role("button", name="Record payment").click()
    expect(page.locator("body")).to_contain_text("change due 50,000 UZS")
    shot(page, "5-cash-recorded")

    with page.expect_popup() as popup:
        page.get_by_role("link", name="Print receipt").first.click()
    receipt = popup.value
    expect(receipt.locator("[data-receipt-reference]")).to_have_text(booking.reference)
    expect(receipt.locator("[data-receipt-amount]")).to_have_text("350,000 UZS")
    expect(receipt.locator("body")).to_contain_text("Madina Desk")
    shot(receipt, "5-cash-receipt")


def test_the_session_page_books_a_student_found_by_phone(page, login):
    session = SessionFactory(product=ProductFactory(name="IELTS mock"), room="Hall A")
    StudentFactory(first_name="Dilnoza", last_name="Karimova", phone="+998901234567")
    login(OperatorFactory())

    page.goto(f"/admin/bookings/session/{session.pk}/change/")
    page.get_by_role("link", name="Book a student").click()
    page.wait_for_url(f"**/admin/bookings/booking/add/?session={session.pk}")
    expect(page.locator("#select2-id_session-container")).to_contain_text("IELTS mock · Hall A")
    page.locator("#id_student + .select2").click()
    page.locator(".select2-container--open .select2-search__field").fill("90 123 45 67")
    expect(page.locator(".select2-results__option").first).to_have_text("Dilnoza Karimova · +998 90 123 45 67")
    shot(page, "2-student-picker-by-phone")
