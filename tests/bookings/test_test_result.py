from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from bookings import services
from bookings.errors import BookingNotAllowed
from bookings.models import (
    Booking,
    BookingEvent,
    BookingStatus,
    CancelReason,
    Reminder,
    ReminderStatus,
    Scoring,
    TestResult,
)
from bookings.models.results import ielts_overall
from tests.factories import (
    ProductFactory,
    ResultFactory,
    SessionFactory,
    TutorFactory,
    confirmed_booking,
)

D = Decimal
SUB_SCORES = ("listening", "reading", "writing", "speaking")

# (listening, reading, writing, speaking) -> overall
ROUNDING_TABLE = [
    # From the issue.
    (("6.5", "6.5", "5.0", "7.0"), "6.5"),  # 6.25 rounds up to the half band
    (("4.0", "3.5", "4.0", "4.0"), "4.0"),  # 3.875 rounds up to the next band
    (("6.0", "6.0", "5.5", "5.5"), "6.0"),  # 5.75 rounds up to the next band
    # Every quarter and eighth of a band.
    (("7.0", "7.0", "7.0", "7.0"), "7.0"),  # x.0 stays
    (("6.5", "6.0", "6.0", "6.0"), "6.0"),  # x.125 rounds down to x.0
    (("6.0", "6.0", "6.0", "7.0"), "6.5"),  # x.25 rounds up to x.5
    (("6.5", "6.5", "6.5", "6.0"), "6.5"),  # x.375 rounds up to x.5
    (("6.5", "6.5", "6.5", "6.5"), "6.5"),  # x.5 stays
    (("6.5", "6.5", "6.5", "7.0"), "6.5"),  # x.625 rounds down to x.5
    (("7.0", "7.0", "7.0", "6.0"), "7.0"),  # x.75 rounds up to the next band
    (("7.0", "7.0", "7.0", "6.5"), "7.0"),  # x.875 rounds up to the next band
    # The ends of the scale.
    (("9.0", "9.0", "9.0", "9.0"), "9.0"),
    (("9.0", "9.0", "9.0", "8.0"), "9.0"),  # 8.75
    (("0.0", "0.0", "0.0", "0.0"), "0.0"),
    (("0.5", "0.0", "0.0", "0.0"), "0.0"),  # 0.125
    (("1.0", "0.0", "0.0", "0.0"), "0.5"),  # 0.25
]


def scores(*values: str) -> dict[str, Decimal]:
    return dict(zip(SUB_SCORES, map(D, values), strict=True))


@pytest.fixture
def booking(db) -> Booking:
    return confirmed_booking(session=SessionFactory(product=ProductFactory(scoring=Scoring.IELTS_BAND)))


@pytest.fixture
def raw_booking(db) -> Booking:
    return confirmed_booking(session=SessionFactory(product=ProductFactory(scoring=Scoring.RAW)))


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


# The rounding rule


@pytest.mark.parametrize(("bands", "overall"), ROUNDING_TABLE)
def test_it_rounds_the_mean_to_the_nearest_half_band(bands: tuple[str, ...], overall: str) -> None:
    result = ielts_overall([D(b) for b in bands])

    assert result == D(overall)


@pytest.mark.parametrize(("bands", "overall"), [(("6.0", "6.0", "6.0", "6.0"), "6.0"), (("9.0",) * 4, "9.0")])
def test_it_writes_a_whole_band_with_one_decimal(bands: tuple[str, ...], overall: str) -> None:
    # Bands are written 6.0, as the database returns them; history and notifications use str().
    assert str(ielts_overall([D(b) for b in bands])) == overall


@pytest.mark.django_db
@pytest.mark.parametrize(("bands", "overall"), ROUNDING_TABLE)
def test_it_stores_the_rounded_overall_on_a_saved_result(
    booking: Booking, bands: tuple[str, ...], overall: str
) -> None:
    result = TestResult(booking=booking, **scores(*bands))
    result.full_clean()
    result.save()

    result.refresh_from_db()
    assert result.overall == D(overall)
    assert str(result.overall) == overall


@pytest.mark.django_db
def test_it_recomputes_the_overall_when_a_sub_score_changes(booking: Booking) -> None:
    result = ResultFactory(booking=booking, **scores("6.0", "6.0", "6.0", "6.0"))

    result.speaking = D("9.0")  # mean 6.75
    result.save(update_fields=["speaking"])

    result.refresh_from_db()
    assert result.overall == D("7.0")


@pytest.mark.django_db
def test_it_leaves_the_overall_empty_until_all_four_bands_are_in(booking: Booking) -> None:
    result = ResultFactory(booking=booking, listening=D("7.0"), reading=D("7.0"), writing=D("7.0"), speaking=None)

    assert result.overall is None


# Validation of IELTS bands


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["6.3", "6.25", "9.5", "10.0", "-0.5", "7.1"])
def test_it_rejects_a_band_off_the_half_grid_or_outside_0_to_9(booking: Booking, value: str) -> None:
    result = TestResult(booking=booking, **scores("6.0", "6.0", "6.0", "6.0"))
    result.writing = D(value)

    with pytest.raises(ValidationError) as exc:
        result.full_clean()

    assert f"{D(value)} is not an IELTS band: use 0–9 in steps of 0.5." in messages(exc)["writing"]
    assert set(messages(exc)) == {"writing"}


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["0", "0.5", "4.5", "9", "9.0"])
def test_it_accepts_every_band_on_the_grid(booking: Booking, value: str) -> None:
    result = TestResult(booking=booking, **scores("6.0", "6.0", "6.0", "6.0"))
    result.reading = D(value)

    result.full_clean()


@pytest.mark.django_db
def test_it_requires_all_four_bands_for_an_ielts_result(booking: Booking) -> None:
    result = TestResult(booking=booking, listening=D("6.0"), reading=D("6.0"))

    with pytest.raises(ValidationError) as exc:
        result.full_clean()

    assert messages(exc) == {
        "writing": ["Enter a band score."],
        "speaking": ["Enter a band score."],
    }


# Raw and unscored products


@pytest.mark.django_db
def test_it_averages_raw_scores_to_one_decimal(raw_booking: Booking) -> None:
    result = TestResult(booking=raw_booking, listening=D("31"), reading=D("35.5"), writing=D("28"), speaking=None)
    result.full_clean()  # raw scores need not be bands
    result.save()

    result.refresh_from_db()
    assert result.overall == D("31.5")


@pytest.mark.django_db
def test_it_rounds_a_raw_average_half_up(raw_booking: Booking) -> None:
    result = ResultFactory(booking=raw_booking, listening=D("10"), reading=D("11"), writing=D("11"), speaking=None)

    assert result.overall == D("10.7")  # 10.666...


@pytest.mark.django_db
def test_it_requires_at_least_one_raw_score(raw_booking: Booking) -> None:
    result = TestResult(booking=raw_booking)

    with pytest.raises(ValidationError) as exc:
        result.full_clean()

    assert messages(exc) == {"listening": ["Enter at least one score."]}


@pytest.mark.django_db
def test_it_gives_no_overall_for_an_unscored_product() -> None:
    booking = confirmed_booking(session=SessionFactory(product=ProductFactory(scoring=Scoring.NONE)))

    result = ResultFactory(booking=booking)

    assert result.overall is None


# has_result


def has_result(booking: Booking) -> bool:
    return Booking.objects.values_list("has_result", flat=True).get(pk=booking.pk)


@pytest.mark.django_db
def test_it_sets_has_result_when_a_result_is_created(booking: Booking) -> None:
    assert has_result(booking) is False

    ResultFactory(booking=booking)

    assert has_result(booking) is True


@pytest.mark.django_db
def test_it_keeps_has_result_while_another_result_remains(booking: Booking) -> None:
    first, _second = ResultFactory.create_batch(2, booking=booking)

    first.delete()

    assert has_result(booking) is True


@pytest.mark.django_db
def test_it_clears_has_result_when_the_last_result_is_deleted(booking: Booking) -> None:
    first, second = ResultFactory.create_batch(2, booking=booking)

    first.delete()
    second.delete()

    assert has_result(booking) is False


@pytest.mark.django_db
def test_it_clears_has_result_when_a_queryset_deletes_the_results(booking: Booking) -> None:
    other = confirmed_booking()
    ResultFactory.create_batch(2, booking=booking)
    ResultFactory(booking=other)

    TestResult.objects.filter(booking__in=[booking, other]).delete()

    assert has_result(booking) is False
    assert has_result(other) is False


@pytest.mark.django_db
def test_it_keeps_has_result_when_a_queryset_deletes_only_some_results(booking: Booking) -> None:
    keep, drop = ResultFactory.create_batch(2, booking=booking)

    TestResult.objects.filter(pk=drop.pk).delete()

    assert has_result(booking) is True
    assert TestResult.objects.filter(booking=booking).get() == keep


@pytest.mark.django_db
def test_it_sets_has_result_again_after_all_results_were_deleted(booking: Booking) -> None:
    ResultFactory(booking=booking).delete()

    ResultFactory(booking=booking)

    assert has_result(booking) is True


# services.record_result


@pytest.fixture
def tutor_booking(db):
    """A confirmed booking, with the clock moved to just after its sitting ended."""
    session = SessionFactory(capacity=5, tutor=TutorFactory())
    booking = confirmed_booking(session=session)
    with time_machine.travel(session.ends_at + timedelta(minutes=30)):
        yield booking


@pytest.mark.django_db
def test_it_refuses_a_result_before_the_session_has_started(session, student) -> None:
    booking = confirmed_booking(session=session, student=student)
    with pytest.raises(BookingNotAllowed, match="has not started"):
        services.record_result(booking, scores=scores("6.0", "6.0", "6.0", "6.0"))
    assert not TestResult.objects.exists()


@pytest.mark.django_db
def test_it_dates_the_result_on_the_day_of_the_sitting(tutor_booking: Booking) -> None:
    result = services.record_result(tutor_booking, scores=scores("6.0", "6.0", "6.0", "6.0"))
    assert result.test_date == timezone.localdate(tutor_booking.session.starts_at)


@pytest.mark.django_db
def test_it_records_a_result_and_completes_the_confirmed_booking(tutor_booking: Booking, operator) -> None:
    session = tutor_booking.session
    session.refresh_from_db()
    assert session.seats_taken == 1

    result = services.record_result(tutor_booking, scores=scores("6.5", "6.5", "5.0", "7.0"), actor=operator)

    tutor_booking.refresh_from_db()
    session.refresh_from_db()
    assert result.pk is not None
    assert result.overall == D("6.5")
    assert result.created_by == operator
    assert tutor_booking.status == BookingStatus.COMPLETED
    assert tutor_booking.has_result is True
    assert session.seats_taken == 0  # a completed booking holds no seat


@pytest.mark.django_db
def test_it_writes_result_recorded_and_booking_completed_events(tutor_booking: Booking, operator) -> None:
    result = services.record_result(tutor_booking, scores=scores("6.0", "6.0", "5.5", "5.5"), actor=operator)

    events = list(BookingEvent.objects.filter(booking=tutor_booking).order_by("id"))
    assert [e.action for e in events][-2:] == ["result.recorded", "booking.completed"]
    recorded, completed = events[-2:]
    assert recorded.actor == operator
    assert recorded.data == {"result": result.pk, "overall": "6.0"}
    assert completed.actor == operator
    assert completed.data == {"via": "result"}


@pytest.mark.django_db
def test_it_cancels_pending_reminders_when_a_result_completes_the_booking(tutor_booking: Booking) -> None:
    assert Reminder.objects.filter(booking=tutor_booking, status=ReminderStatus.PENDING).exists()

    services.record_result(tutor_booking, scores=scores("7.0", "7.0", "7.0", "7.0"))

    assert set(Reminder.objects.filter(booking=tutor_booking).values_list("status", flat=True)) == {
        ReminderStatus.CANCELLED
    }


@pytest.mark.django_db
def test_it_adds_a_second_result_to_a_completed_booking_without_completing_it_again(tutor_booking: Booking) -> None:
    services.record_result(tutor_booking, scores=scores("6.0", "6.0", "6.0", "6.0"))
    tutor_booking.session.refresh_from_db()
    seats_after_first = tutor_booking.session.seats_taken

    services.record_result(tutor_booking, scores=scores("7.0", "7.0", "7.0", "7.0"))

    tutor_booking.session.refresh_from_db()
    actions = list(BookingEvent.objects.filter(booking=tutor_booking).values_list("action", flat=True))
    assert actions.count("booking.completed") == 1
    assert actions.count("result.recorded") == 2
    assert tutor_booking.session.seats_taken == seats_after_first == 0
    assert TestResult.objects.filter(booking=tutor_booking).count() == 2


@pytest.mark.django_db
def test_it_refuses_a_result_for_a_pending_booking_and_writes_nothing(session, student) -> None:
    booking = services.book(session=session, student=student)
    assert booking.status == BookingStatus.PENDING
    events_before = BookingEvent.objects.filter(booking=booking).count()

    with pytest.raises(BookingNotAllowed, match="only a confirmed or completed booking can get a result"):
        services.record_result(booking, scores=scores("6.0", "6.0", "6.0", "6.0"))

    booking.refresh_from_db()
    session.refresh_from_db()
    assert booking.status == BookingStatus.PENDING
    assert booking.has_result is False
    assert not TestResult.objects.filter(booking=booking).exists()
    assert BookingEvent.objects.filter(booking=booking).count() == events_before
    assert session.seats_taken == 1


@pytest.mark.django_db
def test_it_refuses_a_result_for_a_cancelled_booking_and_writes_nothing(session, student) -> None:
    booking = services.book(session=session, student=student)
    services.cancel(booking, reason=CancelReason.STAFF)
    events_before = BookingEvent.objects.filter(booking=booking).count()

    with pytest.raises(BookingNotAllowed):
        services.record_result(booking, scores=scores("6.0", "6.0", "6.0", "6.0"))

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.has_result is False
    assert not TestResult.objects.filter(booking=booking).exists()
    assert BookingEvent.objects.filter(booking=booking).count() == events_before


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["6.3", "9.5", "-1"])
def test_it_refuses_scores_off_the_band_grid_and_writes_nothing(tutor_booking: Booking, bad: str) -> None:
    events_before = BookingEvent.objects.filter(booking=tutor_booking).count()

    with pytest.raises(BookingNotAllowed, match=r"speaking: .*steps of 0\.5"):
        services.record_result(tutor_booking, scores=scores("6.0", "6.0", "6.0", bad))

    tutor_booking.refresh_from_db()
    tutor_booking.session.refresh_from_db()
    assert tutor_booking.status == BookingStatus.CONFIRMED
    assert tutor_booking.has_result is False
    assert not TestResult.objects.filter(booking=tutor_booking).exists()
    assert BookingEvent.objects.filter(booking=tutor_booking).count() == events_before
    assert tutor_booking.session.seats_taken == 1


@pytest.mark.django_db
def test_it_refuses_an_unknown_score_name(tutor_booking: Booking) -> None:
    with pytest.raises(BookingNotAllowed, match="Unknown score"):
        services.record_result(tutor_booking, scores={**scores("6.0", "6.0", "6.0", "6.0"), "grammar": D("6.0")})

    assert not TestResult.objects.filter(booking=tutor_booking).exists()
