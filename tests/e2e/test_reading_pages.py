"""Issue 14, "Reading the pages", in the browser: what an operator and a tutor in London read on the
booking page, the calendar, the sessions list and the result form. Screenshots: /tmp/shots/h6/."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from bookings import services
from bookings.models import BookingStatus
from tests.e2e.conftest import SCREENSHOTS, log_in
from tests.factories import (
    LessonFactory,
    ManagerFactory,
    OperatorFactory,
    ProductFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    booking_in,
)

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = SCREENSHOTS  # tests/e2e/screenshots/ (ignored by git)
CENTRE = ZoneInfo("Asia/Tashkent")


def snap(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_booking_page_reads_its_history_in_words_and_24_hour_time(page, live_server):
    exam_at = (timezone.localtime(timezone.now()) + timedelta(days=6)).replace(hour=14, minute=0, second=0)
    session = SessionFactory(product=ProductFactory(name="IELTS mock"), starts_at=exam_at)
    student = StudentFactory(first_name="Aziza", last_name="Karimova")
    booking = services.book(session=session, student=student, actor=OperatorFactory())
    log_in(page, ManagerFactory())

    page.goto(f"/admin/bookings/booking/{booking.pk}/change/")
    history = page.locator("text=IELTS mock, " + f"{exam_at:%a %d %b %Y} 14:00 · Back office · 350,000 UZS · Cash")
    expect(history.first).to_be_visible()
    body = page.locator("body")
    expect(body).not_to_contain_text("booking.created")
    expect(body).not_to_contain_text("p.m.")
    expect(body).not_to_contain_text("price: 350000.00")
    snap(page, "1-booking-history-words")

    page.goto("/admin/bookings/bookingevent/")
    expect(page.locator("#result_list")).to_contain_text("Booked")
    expect(page.locator("#result_list")).not_to_contain_text('"session"')
    snap(page, "1-booking-events-list")


def test_a_london_tutor_reads_london_time_and_follows_no_dead_link(page, live_server):
    tutor = TutorFactory(timezone="Europe/London", user__first_name="James", user__last_name="Smith")
    day = timezone.localdate() + timedelta(days=2)
    starts = datetime(day.year, day.month, day.day, 14, 0, tzinfo=CENTRE)
    session = SessionFactory(tutor=tutor, product=LessonFactory(name="Speaking lesson"), starts_at=starts)
    session.ends_at = starts + timedelta(hours=1)
    session.save(update_fields=["ends_at"])
    booking = booking_in(BookingStatus.CONFIRMED, session=session)
    log_in(page, tutor.user)

    page.goto(f"/admin/bookings/session/calendar/?view=day&date={day.isoformat()}")
    expect(page.locator("h2.ms-2")).to_contain_text("Europe/London time")
    expect(page.locator("body")).to_contain_text("09:00–10:00")  # 14:00 at the centre
    snap(page, "2-calendar-london-tutor")

    page.goto(f"/admin/bookings/booking/{booking.pk}/change/")
    expect(page.locator("body")).to_contain_text(f"Speaking lesson · {starts:%a %d %b %Y} 09:00 Europe/London")
    hrefs = page.eval_on_selector_all("#content a[href^='/admin/']", "links => links.map(a => a.getAttribute('href'))")
    statuses = {href: page.request.get(href).status for href in set(hrefs) if "logout" not in href}
    assert statuses and 403 not in statuses.values(), statuses
    snap(page, "5-tutor-booking-page-links")


def test_sessions_open_on_today_and_breadcrumbs_follow_the_sidebar(page, live_server):
    old = SessionFactory(product=ProductFactory(name="Old mock"), starts_at=timezone.now() - timedelta(days=20))
    SessionFactory(product=ProductFactory(name="Coming mock"), starts_at=timezone.now() + timedelta(days=1))
    log_in(page, ManagerFactory())

    page.goto("/admin/bookings/session/")
    expect(page.locator("#result_list")).to_contain_text("Coming mock")
    expect(page.locator("#result_list")).not_to_contain_text("Old mock")
    expect(page.locator("#header-inner h1")).to_contain_text("Schedule")
    snap(page, "3-sessions-upcoming-6-breadcrumbs")

    page.goto("/admin/bookings/session/?when=past")
    expect(page.locator("#result_list")).to_contain_text("Old mock")
    page.locator("a.filter-open-button").click()
    expect(page.get_by_text("Today and upcoming").first).to_be_visible()
    snap(page, "3-sessions-past")

    page.goto(f"/admin/bookings/session/{old.pk}/change/")
    expect(page.locator("#header-inner h1")).to_contain_text("Schedule")
    expect(page.locator("#header-inner h1")).not_to_contain_text("Bookings")
    page.goto("/admin/bookings/importrecord/")
    expect(page.locator("#header-inner h1")).to_contain_text("System")
    snap(page, "6-breadcrumbs-import-history")


def test_the_result_picker_names_student_product_and_day(page, live_server):
    session = SessionFactory(product=ProductFactory(name="IELTS mock"), starts_at=timezone.now() + timedelta(days=1))
    student = StudentFactory(first_name="Aziza", last_name="Karimova")
    waiting = booking_in(BookingStatus.CONFIRMED, session=session, student=student)
    booking_in(BookingStatus.CANCELLED, session=session)
    manager = ManagerFactory()

    with time_machine.travel(session.starts_at + timedelta(hours=4)):
        log_in(page, manager)
        page.goto("/admin/bookings/testresult/add/")
    options = page.locator("select[name=booking] option").all_inner_texts()
    day = timezone.localtime(session.starts_at)
    assert [o for o in options if o.strip() and "---" not in o] == [
        f"{waiting.reference} · Aziza Karimova · IELTS mock · {day:%a %d %b %Y}"
    ], options
    page.locator("select[name=booking]").evaluate("s => s.size = 4")  # draw the options for the screenshot
    snap(page, "4-result-booking-picker")
