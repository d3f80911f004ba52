"""Admin action pages in a real browser (bookings.admin.actions): a session's cancel page, and a
feedback request scored in unfold's modal -- the same page and form mechanism as a booking's actions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from bookings import services
from bookings.models import Booking, BookingStatus, FeedbackRequest, Session, SessionStatus
from tests.factories import FeedbackRequestFactory, ManagerFactory, ProductFactory, SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_manager_cancels_a_session_with_its_bookings_from_its_page(page, login, shot):
    session = SessionFactory(product=ProductFactory(name="IELTS mock exam", code="MOCK"), capacity=4, room="Hall B")
    booking = services.book(session=session, student=StudentFactory(first_name="Dilnoza"))
    login(ManagerFactory())

    page.goto(f"/admin/bookings/session/{session.pk}/change/")
    page.locator(f'a[href$="/{session.pk}/cancel/"]').first.click()
    expect(page.locator("h1", has_text="Cancel session")).to_be_visible()
    expect(page.locator("body")).to_contain_text("Bookings to cancel")
    page.locator("textarea[name=note]").fill("The hall is flooded.")
    shot(page, "action-session-cancel")
    page.get_by_role("button", name="Cancel the session and its bookings").click()

    expect(page.locator("body")).to_contain_text("Cancelled 1 session(s) and 1 booking(s).")
    assert Session.objects.get(pk=session.pk).status == SessionStatus.CANCELLED
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CANCELLED


def test_a_manager_scores_feedback_in_the_modal_and_a_refusal_stays_on_the_form(page, login, shot):
    feedback = FeedbackRequestFactory(tutor=None)
    login(ManagerFactory())

    page.goto(f"/admin/bookings/feedbackrequest/{feedback.pk}/change/")
    page.locator(f'a[href$="/{feedback.pk}/score/"]').first.click()
    dialog = page.locator("#dialog")
    expect(dialog.locator("h1", has_text="Score the submission")).to_be_visible()
    dialog.locator("input[name=score]").fill("6.3")
    dialog.get_by_role("button", name="Save score").click()
    expect(page.locator("body")).to_contain_text("not an IELTS band")
    shot(page, "action-feedback-refused")
    assert FeedbackRequest.objects.get(pk=feedback.pk).score is None

    page.locator("input[name=score]").fill("6.5")
    page.get_by_role("button", name="Save score").click()
    expect(page.locator("body")).to_contain_text(f"Feedback request #{feedback.pk} scored 6.5.")
    assert FeedbackRequest.objects.get(pk=feedback.pk).score == Decimal("6.5")
