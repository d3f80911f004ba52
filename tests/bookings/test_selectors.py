from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db.models import Count
from django.utils import timezone

from backoffice.models import User
from bookings import services
from bookings.models import Booking, CancelReason, Scoring
from bookings.selectors import (
    FeedbackStats,
    PaymentState,
    StudentStats,
    amount_owed,
    feedback_stats,
    payment_state,
    student_stats,
    students_with_stats,
    with_paid_amount,
)
from tests.factories import (
    FeedbackRequestFactory,
    ProductFactory,
    ResultFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    confirmed_booking,
)

pytestmark = pytest.mark.django_db

D = Decimal


def bands(overall: str) -> dict[str, Decimal]:
    """Four equal sub-scores, so the overall band is exactly ``overall``."""
    return dict.fromkeys(("listening", "reading", "writing", "speaking"), D(overall))


def result_for(student: User, overall: str, *, booking: Booking | None = None) -> None:
    ResultFactory(booking=booking or confirmed_booking(student=student), **bands(overall))


# student_stats


def test_it_reports_nothing_for_a_student_without_bookings(student) -> None:
    assert student_stats(student) == StudentStats(
        total_tests=0,
        average_overall=None,
        best_overall=None,
        upcoming=0,
        upcoming_pending=0,
    )


def test_it_counts_results_and_gives_average_and_best_overall(student) -> None:
    for overall in ("6.5", "7.0", "6.0"):
        result_for(student, overall)
    result_for(StudentFactory(), "9.0")  # someone else's

    stats = student_stats(student)

    assert stats.total_tests == 3
    assert stats.average_overall == D("6.5")
    assert stats.best_overall == D("7.0")


def test_it_counts_every_result_of_a_booking(student) -> None:
    booking = confirmed_booking(student=student)
    result_for(student, "5.5", booking=booking)
    result_for(student, "6.5", booking=booking)

    stats = student_stats(student)

    assert stats.total_tests == 2
    assert stats.average_overall == D("6.0")
    assert stats.best_overall == D("6.5")


@pytest.mark.parametrize(
    ("overalls", "average"),
    [
        (["6.0", "6.5"], "6.3"),  # 6.25: half rounds up
        (["6.0", "6.0", "6.5"], "6.2"),  # 6.1666...
        (["7.0", "7.5", "7.5"], "7.3"),  # 7.3333...
        (["5.0", "5.5", "5.5", "5.5"], "5.4"),  # 5.375
    ],
)
def test_it_rounds_the_average_to_one_decimal(student, overalls: list[str], average: str) -> None:
    booking = confirmed_booking(student=student)
    for overall in overalls:
        result_for(student, overall, booking=booking)

    stats = student_stats(student)

    assert stats.average_overall == D(average)
    assert str(stats.average_overall) == average
    assert str(stats.best_overall) == max(overalls, key=D)


def test_it_counts_a_result_without_an_overall_but_leaves_it_out_of_the_average(student) -> None:
    unscored = SessionFactory(product=ProductFactory(scoring=Scoring.NONE))
    ResultFactory(booking=confirmed_booking(student=student, session=unscored))
    result_for(student, "7.0")

    stats = student_stats(student)

    assert stats.total_tests == 2
    assert stats.average_overall == D("7.0")
    assert stats.best_overall == D("7.0")


def test_it_gives_none_when_no_result_has_an_overall(student) -> None:
    unscored = SessionFactory(product=ProductFactory(scoring=Scoring.NONE))
    ResultFactory(booking=confirmed_booking(student=student, session=unscored))

    stats = student_stats(student)

    assert stats.total_tests == 1
    assert stats.average_overall is None
    assert stats.best_overall is None


def test_it_counts_upcoming_confirmed_and_pending_bookings(student) -> None:
    now = timezone.now()
    soon = SessionFactory(starts_at=now + timedelta(days=1))
    later = SessionFactory(starts_at=now + timedelta(days=10))
    confirmed_booking(student=student, session=soon)
    confirmed_booking(student=student, session=later)
    services.book(session=SessionFactory(), student=student)  # pending
    cancelled = services.book(session=SessionFactory(), student=student)
    services.cancel(cancelled, reason=CancelReason.STAFF)
    services.book(session=SessionFactory(), student=StudentFactory())  # someone else's

    stats = student_stats(student)

    assert (stats.upcoming, stats.upcoming_pending) == (2, 1)


def test_it_stops_counting_a_booking_once_its_session_has_started(student) -> None:
    now = timezone.now()
    soon = SessionFactory(starts_at=now + timedelta(days=1))
    later = SessionFactory(starts_at=now + timedelta(days=10))
    confirmed_booking(student=student, session=soon)
    confirmed_booking(student=student, session=later)

    with time_machine.travel(soon.starts_at, tick=False):
        at_start = student_stats(student)
    after_both = student_stats(student, now=later.starts_at + timedelta(hours=1))

    assert at_start.upcoming == 1
    assert after_both.upcoming == 0


def test_it_does_not_count_completed_bookings_as_upcoming(student) -> None:
    booking = confirmed_booking(student=student)
    with time_machine.travel(booking.session.starts_at + timedelta(hours=3)):
        services.record_result(booking, scores=bands("6.5"))

    stats = student_stats(student)

    assert stats.upcoming == 0
    assert stats.total_tests == 1


def test_it_computes_student_stats_in_one_query(student, django_assert_num_queries) -> None:
    result_for(student, "6.5")
    result_for(student, "7.5")
    services.book(session=SessionFactory(), student=student)

    with django_assert_num_queries(1):
        stats = student_stats(student)

    assert stats == StudentStats(
        total_tests=2,
        average_overall=D("7.0"),
        best_overall=D("7.5"),
        upcoming=2,
        upcoming_pending=1,
    )


def test_it_returns_a_frozen_dataclass(student) -> None:
    stats = student_stats(student)

    with pytest.raises(AttributeError):
        stats.total_tests = 5  # type: ignore[misc]


# feedback_stats


def test_it_reports_no_feedback_for_a_student_without_submissions(student) -> None:
    assert feedback_stats(student) == FeedbackStats(total=0, completed=0, average_score=None)


def test_it_counts_submissions_and_averages_completed_scores(student) -> None:
    FeedbackRequestFactory(student=student, completed=True, score=D("6.5"), completed_at=timezone.now())
    FeedbackRequestFactory(student=student, completed=True, score=D("7.0"), completed_at=timezone.now())
    FeedbackRequestFactory(student=student)  # still waiting for the tutor
    FeedbackRequestFactory(score=D("9.0"), completed=True)  # someone else's

    stats = feedback_stats(student)

    assert stats.total == 3
    assert stats.completed == 2
    assert stats.open == 1
    assert stats.average_score == D("6.8")  # 6.75 rounds up


def test_it_leaves_a_draft_score_out_of_the_average(student) -> None:
    FeedbackRequestFactory(student=student, completed=True, score=D("6.0"))
    FeedbackRequestFactory(student=student, completed=False, score=D("9.0"))

    assert feedback_stats(student).average_score == D("6.0")


def test_it_gives_no_average_when_completed_requests_have_no_score(student) -> None:
    FeedbackRequestFactory(student=student, completed=True, score=None)

    stats = feedback_stats(student)

    assert (stats.total, stats.completed, stats.average_score) == (1, 1, None)


def test_it_computes_feedback_stats_in_one_query(student, django_assert_num_queries) -> None:
    FeedbackRequestFactory.create_batch(3, student=student, completed=True, score=D("5.5"))

    with django_assert_num_queries(1):
        stats = feedback_stats(student)

    assert stats == FeedbackStats(total=3, completed=3, average_score=D("5.5"))


# students_with_stats


def test_it_annotates_every_student_and_only_students() -> None:
    strong, new = StudentFactory(), StudentFactory()
    result_for(strong, "7.0")
    result_for(strong, "8.0")
    result_for(strong, "8.0")
    tutor = TutorFactory()

    rows = {user.pk: user for user in students_with_stats()}

    assert set(rows) == {strong.pk, new.pk}
    assert tutor.user.pk not in rows
    assert (rows[strong.pk].total_tests, rows[strong.pk].average_overall, rows[strong.pk].best_overall) == (
        3,
        D("7.7"),
        D("8.0"),
    )
    assert (rows[new.pk].total_tests, rows[new.pk].average_overall, rows[new.pk].best_overall) == (0, None, None)


def test_it_lists_students_with_stats_in_one_query(django_assert_num_queries) -> None:
    for overall in ("5.0", "6.0", "7.0", "8.0", "9.0"):
        result_for(StudentFactory(), overall)

    with django_assert_num_queries(1):
        rows = [(user.total_tests, user.average_overall) for user in students_with_stats()]

    assert sorted(rows) == [(1, D(x)) for x in ("5.0", "6.0", "7.0", "8.0", "9.0")]


def test_it_agrees_with_student_stats(student) -> None:
    booking = confirmed_booking(student=student)
    for overall in ("6.0", "6.0", "6.5"):
        result_for(student, overall, booking=booking)

    row = students_with_stats().get(pk=student.pk)
    stats = student_stats(student)

    assert (row.total_tests, row.average_overall, row.best_overall) == (
        stats.total_tests,
        stats.average_overall,
        stats.best_overall,
    )


def test_it_composes_with_other_annotations_without_multiplying_counts(student) -> None:
    # Three bookings, one of them with two results: a join would report 2 x 3 rows.
    first = confirmed_booking(student=student)
    result_for(student, "6.0", booking=first)
    result_for(student, "7.0", booking=first)
    confirmed_booking(student=student)
    confirmed_booking(student=student)

    row = students_with_stats().annotate(booking_count=Count("bookings")).get(pk=student.pk)

    assert (row.booking_count, row.total_tests, row.average_overall) == (3, 2, D("6.5"))


def test_it_can_be_ordered_by_best_overall() -> None:
    low, high = StudentFactory(), StudentFactory()
    result_for(low, "5.0")
    result_for(high, "8.5")

    ordered = list(students_with_stats().filter(total_tests__gt=0).order_by("-best_overall"))

    assert ordered == [high, low]


# paid_total, with_paid_amount, payment_state: the one definition of "paid"


def _money_cases(operator: User) -> dict[str, Booking]:
    """Bookings whose money is every way it can be: none, part, all, part returned, all returned,
    an online attempt in flight, one that failed."""
    cases: dict[str, Booking] = {}
    for name in ("none", "part", "all", "part_refunded", "all_refunded", "in_flight", "failed"):
        cases[name] = services.book(session=SessionFactory(capacity=2), student=StudentFactory())
    services.record_payment(cases["part"], provider="cash", amount="100000")
    services.record_payment(cases["all"], provider="cash", amount="350000")
    refunded = services.record_payment(cases["part_refunded"], provider="cash", amount="350000")
    services.refund(refunded, amount="50000", reason="Late start", actor=operator)
    refunded = services.record_payment(cases["all_refunded"], provider="cash", amount="350000")
    services.refund(refunded, reason="Cancelled by the centre", actor=operator)
    attempts = {
        name: services.start_online_payment(
            cases[name],
            provider="click",
            amount=D("350000"),
            provider_txn_id=f"C-{name}",
            holds_until=timezone.now() + timedelta(hours=1),
        )
        for name in ("in_flight", "failed")
    }
    services.cancel_payment_attempt(attempts["failed"], failed=True)
    return cases


def test_paid_total_counts_money_kept_and_nothing_else(operator) -> None:
    cases = _money_cases(operator)
    assert {name: services.paid_total(booking) for name, booking in cases.items()} == {
        "none": 0,
        "part": D("100000"),
        "all": D("350000"),
        "part_refunded": D("300000"),
        "all_refunded": 0,
        "in_flight": 0,
        "failed": 0,
    }


def test_with_paid_amount_agrees_with_paid_total_in_one_query(operator, django_assert_num_queries) -> None:
    cases = _money_cases(operator)
    with django_assert_num_queries(1):
        annotated = {booking.pk: booking.paid_amount for booking in with_paid_amount(Booking.objects.all())}
    assert annotated == {booking.pk: services.paid_total(booking) for booking in cases.values()}


def test_amount_owed_takes_a_paid_amount_already_read(operator) -> None:
    cases = _money_cases(operator)
    for booking in with_paid_amount(Booking.objects.all()):
        assert amount_owed(booking, paid=booking.paid_amount) == amount_owed(booking)
    assert amount_owed(cases["part_refunded"]) == D("50000")


@pytest.mark.parametrize(
    ("price", "paid", "needs_refund", "state", "label"),
    [
        ("350000", "0", False, PaymentState.UNPAID, "unpaid"),
        ("350000", "100000", False, PaymentState.PART, "part-paid"),
        ("350000", "350000", False, PaymentState.PAID, "paid"),
        ("0", "0", False, PaymentState.FREE, "free"),
        ("350000", "350000", True, PaymentState.REFUND, "refund due"),
    ],
)
def test_payment_state_is_one_definition_for_every_page(price, paid, needs_refund, state, label) -> None:
    booking = Booking(price=D(price), needs_refund=needs_refund)
    assert payment_state(booking, D(paid)) == state
    assert payment_state(booking, D(paid)).label == label
