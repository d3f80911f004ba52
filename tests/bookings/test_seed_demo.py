from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import timedelta
from io import StringIO

import phonenumbers
import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, F, Q
from django.test import RequestFactory, override_settings
from django.utils import timezone

from backoffice.models import Role, User
from bookings.models import (
    SEAT_HOLDING,
    Booking,
    BookingEvent,
    BookingStatus,
    CancelReason,
    FeedbackKind,
    FeedbackRequest,
    Payment,
    Product,
    Session,
    SessionAction,
    SessionEvent,
    SessionStatus,
    TestResult,
)
from bookings.models.results import validate_band

pytestmark = pytest.mark.django_db

LOGINS = {"manager": Role.MANAGER, "operator": Role.OPERATOR, "aziza": Role.TUTOR, "james": Role.TUTOR}


def seed(*, flag: bool = True) -> str:
    """Run seed_demo as `make run` does: the suite runs with DEBUG off, so it asks for the demo passwords."""
    out = StringIO()
    call_command("seed_demo", *(["--demo-passwords"] if flag else []), stdout=out)
    return out.getvalue()


def login(username: str, password: str) -> User | None:
    # With django-axes every authentication needs the request it comes from.
    return authenticate(RequestFactory().post("/admin/login/"), username=username, password=password)


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker) -> Iterator[str]:
    """Seed once for the whole module: a run takes seconds, and every test here only reads the result.

    The outer atomic block is rolled back at the end of the module; each test's own transaction nests
    inside it as a savepoint, so what a test writes is undone as usual.

    Yields all that the run printed: its own output, and whatever the console e-mail and SMS backends
    (`make run`'s) would have printed of the messages the demo's services send.
    """
    printed = StringIO()
    with (
        django_db_blocker.unblock(),
        override_settings(
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
            SMS_BACKEND="console",
        ),
        redirect_stdout(printed),
        transaction.atomic(),
    ):
        summary = seed()
        yield printed.getvalue() + summary
        transaction.set_rollback(True)


def test_it_creates_logins_that_authenticate_with_the_demo_password(seeded: str) -> None:
    for username, role in LOGINS.items():
        user = login(username, "seatdesk-demo")
        assert user is not None, username
        assert user.role == role
        assert user.is_staff and not user.is_superuser
        assert user.groups.count() == 1
        assert username in seeded
    assert User.objects.get(username="aziza").tutor.timezone == "Asia/Tashkent"
    james = User.objects.get(username="james").tutor
    assert (james.timezone, james.auto_confirm, james.cancellation_policy) == ("Europe/London", True, "flexible")


def test_a_first_start_prints_the_summary_and_the_logins_and_no_message_to_a_demo_student(seeded: str) -> None:
    assert seeded.startswith("Seatdesk demo centre loaded.")
    assert "Subject:" not in seeded and "SMS to" not in seeded
    assert 'Logins (password "seatdesk-demo")' in seeded


def test_it_prints_a_summary_with_the_booking_counts(seeded: str) -> None:
    assert "Seatdesk demo centre loaded." in seeded
    assert f"Bookings: {Booking.objects.count()} —" in seeded
    assert f"completed {Booking.objects.filter(status=BookingStatus.COMPLETED).count()}" in seeded


def test_it_creates_bookings_in_every_state(seeded: str) -> None:
    statuses = set(Booking.objects.values_list("status", flat=True))
    assert statuses == set(BookingStatus.values)
    reasons = set(Booking.objects.filter(status=BookingStatus.CANCELLED).values_list("cancel_reason", flat=True))
    assert {CancelReason.EXPIRED, CancelReason.STUDENT, CancelReason.STAFF, CancelReason.RESCHEDULED} <= reasons
    moved = Booking.objects.filter(rescheduled_from__isnull=False).select_related("rescheduled_from")
    assert moved.exists()
    assert all(b.rescheduled_from.cancel_reason == CancelReason.RESCHEDULED for b in moved)
    assert Booking.objects.filter(needs_refund=True, status=BookingStatus.CANCELLED).count() == 1
    soon = timezone.now() + timedelta(hours=6)
    assert Booking.objects.filter(status=BookingStatus.PENDING, expires_at__lte=soon).exists()


def test_it_keeps_seats_taken_equal_to_the_seat_holding_bookings(seeded: str) -> None:
    sessions = Session.objects.annotate(holding=Count("bookings", filter=Q(bookings__status__in=SEAT_HOLDING)))
    assert sessions.count() > 100
    for session in sessions:
        assert session.seats_taken == session.holding, session
        assert 0 <= session.seats_taken <= session.capacity
    assert not Booking.objects.filter(events__isnull=True).exists()


def test_it_leaves_upcoming_sessions_full_and_with_free_seats(seeded: str) -> None:
    upcoming = Session.objects.filter(starts_at__gt=timezone.now(), status=SessionStatus.OPEN)
    assert upcoming.filter(seats_taken=F("capacity"), product__code="IELTS-MOCK").exists()
    assert upcoming.filter(seats_taken__lt=F("capacity"), seats_taken__gt=0).exists()
    assert Session.objects.filter(status=SessionStatus.CLOSED).exists()
    assert Session.objects.filter(status=SessionStatus.CANCELLED).exists()


def test_it_books_about_fifty_students_with_valid_phones(seeded: str) -> None:
    students = User.objects.filter(role=Role.STUDENT)
    assert students.count() == 50
    for phone in students.values_list("phone", flat=True):
        number = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(number), phone
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == phone
        assert phone.startswith("+9989")
    assert students.exclude(email="").count() >= 40
    assert not students.filter(is_staff=True).exists()


def test_it_records_ielts_results_only_for_bookings_marked_as_having_them(seeded: str) -> None:
    results = TestResult.objects.select_related("booking")
    assert results.count() >= 20
    for result in results:
        assert result.booking.status == BookingStatus.COMPLETED
        for band in (*result.sub_scores().values(), result.overall):
            validate_band(band)
    with_results = set(results.values_list("booking_id", flat=True))
    assert set(Booking.objects.filter(has_result=True).values_list("id", flat=True)) == with_results


def test_it_creates_feedback_requests_of_both_kinds(seeded: str) -> None:
    feedback = FeedbackRequest.objects.all()
    assert {f.kind for f in feedback} == set(FeedbackKind.values)
    done = feedback.filter(completed=True)
    assert done.exists() and feedback.filter(completed=False).exists()
    assert not done.filter(Q(score__isnull=True) | Q(comment="")).exists()


def test_it_creates_nothing_new_when_run_again(seeded: str) -> None:
    before = row_counts()
    output = seed()
    assert "Demo centre already loaded" in output
    assert row_counts() == before
    assert login("manager", "seatdesk-demo") is not None


def test_it_restores_the_demo_password_when_run_again(seeded: str) -> None:
    operator = User.objects.get(username="operator")
    operator.set_password("something-else")
    operator.save()
    seed()
    assert login("operator", "seatdesk-demo") is not None
    assert Product.objects.filter(code="IELTS-MOCK").count() == 1


# --- Demo passwords only where asked for ------------------------------------------------------


def test_it_refuses_to_touch_a_non_debug_database_unless_asked(seeded: str, settings) -> None:
    settings.DEBUG = False
    operator = User.objects.get(username="operator")
    operator.set_password("the-operators-own-password")
    operator.save()
    before = row_counts()

    with pytest.raises(CommandError) as refused:
        call_command("seed_demo", stdout=StringIO())

    message = str(refused.value)
    assert "--demo-passwords" in message and "DEBUG" in message
    assert row_counts() == before
    assert login("operator", "the-operators-own-password") is not None
    assert login("operator", "seatdesk-demo") is None


def test_it_refuses_a_non_debug_database_without_the_demo_centre_too(settings) -> None:
    settings.DEBUG = False
    # The module's seeded centre may be there (its transaction spans the module): remove it here.
    Product.objects.filter(code="IELTS-MOCK").update(code="REAL-MOCK")
    before = row_counts()

    with pytest.raises(CommandError, match="--demo-passwords"):
        call_command("seed_demo", stdout=StringIO())

    assert row_counts() == before
    assert not Product.objects.filter(code="IELTS-MOCK").exists()


def test_it_runs_on_a_debug_configuration_without_the_flag(seeded: str, settings) -> None:
    settings.DEBUG = True
    User.objects.filter(username="james").update(password="!")

    assert "Demo centre already loaded" in seed(flag=False)
    assert login("james", "seatdesk-demo") is not None


def test_every_demo_session_has_a_history_and_the_sick_leave_is_recorded(seeded: str) -> None:
    """The demo's sessions begin their history as the services begin it; the session cancelled for
    a tutor's sick leave went through cancel_session, so its history says so."""
    assert not Session.objects.filter(events__isnull=True).exists()
    cancelled = SessionEvent.objects.get(action=SessionAction.CANCELLED)
    assert (cancelled.actor.username, cancelled.data["reason"]) == ("manager", "tutor")
    assert cancelled.describe().endswith("by the tutor: Tutor on sick leave")


def test_the_demo_bookings_and_payments_are_spread_over_the_weeks_it_covers(seeded: str) -> None:
    """A month of trade, not one afternoon: the bookings the services made are dated back as a
    centre would have taken them, each with its history and payments moved along."""
    now = timezone.now()
    today = timezone.localdate()
    bookings = Booking.objects.all()
    # A pending booking was made within its payment window (a day): most of those fall on today
    # late in the day, as at a real centre. Every other one goes back up to three weeks.
    settled = bookings.exclude(status=BookingStatus.PENDING)
    assert settled.filter(created_at__date=today).count() < settled.count() / 8
    assert bookings.filter(created_at__gte=now - timedelta(days=1)).count() < bookings.count() / 4
    assert bookings.dates("created_at", "day").count() >= 20
    payments_by_day = Counter(Payment.objects.values_list("created_at__date", flat=True))
    assert max(payments_by_day.values()) < Payment.objects.count() / 5
    assert not bookings.filter(status=BookingStatus.PENDING, expires_at__lte=now).exists()
    assert not BookingEvent.objects.filter(created_at__lt=F("booking__created_at") - timedelta(seconds=1)).exists()
    assert not Payment.objects.filter(created_at__lt=F("booking__created_at") - timedelta(seconds=1)).exists()
    assert not bookings.filter(created_at__gt=now).exists()
