"""generate_sessions: lessons from weekly availability, idempotent, never overlapping, right across DST."""

from __future__ import annotations

import threading
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from time import sleep
from unittest import mock

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from bookings import services
from bookings.models import Availability, DateException, Session, SessionSource, SessionStatus, Tutor
from bookings.services import generation
from bookings.services.generation import SkipReason
from tests.bookings.test_concurrency import run_in_threads
from tests.factories import LessonFactory, ManagerFactory, ProductFactory, SessionFactory, TutorFactory

pytestmark = pytest.mark.django_db

TASHKENT = zoneinfo.ZoneInfo("Asia/Tashkent")
# Sunday 1 June 2025, noon in Tashkent: the next day is a Monday.
SUNDAY_NOON = datetime(2025, 6, 1, 12, tzinfo=TASHKENT)
MONDAY = date(2025, 6, 2)


def make_tutor(**settings) -> Tutor:
    defaults = {
        "timezone": "Asia/Tashkent",
        "lesson_minutes": 60,
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 0,
        "min_notice_hours": 0,
        "max_advance_days": 60,
    }
    return TutorFactory(**{**defaults, **settings})


def window(tutor: Tutor, weekday: int = 0, start: int | time = 9, end: int | time = 12, **fields) -> Availability:
    fields.setdefault("product", LessonFactory())
    start = start if isinstance(start, time) else time(start)
    end = end if isinstance(end, time) else time(end)
    return Availability.objects.create(tutor=tutor, weekday=weekday, start_time=start, end_time=end, **fields)


def local_starts(tutor: Tutor) -> list[datetime]:
    """The tutor's live sessions as naive wall-clock times in their zone."""
    zone = tutor.tzinfo
    sessions = Session.objects.filter(tutor=tutor).exclude(status=SessionStatus.CANCELLED).order_by("starts_at")
    return [s.starts_at.astimezone(zone).replace(tzinfo=None) for s in sessions]


def on(day: date, *hours_minutes: tuple[int, int]) -> list[datetime]:
    return [datetime.combine(day, time(h, m)) for h, m in hours_minutes]


def reasons(report) -> dict[SkipReason, int]:
    (only,) = report.tutors
    return only.skipped_by_reason()


def test_it_cuts_a_window_into_lessons_of_the_product_and_tutor():
    tutor = make_tutor()
    lesson = LessonFactory(default_capacity=2)
    window(tutor, product=lesson)
    actor = ManagerFactory()

    report = services.generate_sessions(tutor=tutor, days=7, now=SUNDAY_NOON, actor=actor)

    assert report.created == 3
    assert local_starts(tutor) == on(MONDAY, (9, 0), (10, 0), (11, 0))
    for session in Session.objects.filter(tutor=tutor):
        assert session.ends_at - session.starts_at == timedelta(minutes=60)
        assert (session.product, session.capacity, session.seats_taken) == (lesson, 2, 0)
        assert (session.status, session.source, session.created_by) == ("open", SessionSource.AVAILABILITY, actor)


def test_it_spaces_lessons_by_both_buffers_and_keeps_each_lesson_inside_the_window():
    tutor = make_tutor(lesson_minutes=50, buffer_before_minutes=5, buffer_after_minutes=10)
    window(tutor)

    services.generate_sessions(tutor=tutor, days=7, now=SUNDAY_NOON)

    # Steps of 5 + 50 + 10 minutes; the last lesson ends at 12:00 exactly, its buffer past the window.
    assert local_starts(tutor) == on(MONDAY, (9, 0), (10, 5), (11, 10))


def test_it_skips_a_whole_day_off():
    tutor = make_tutor()
    window(tutor)
    DateException.objects.create(tutor=tutor, date=MONDAY, kind="holiday")

    report = services.generate_sessions(tutor=tutor, days=14, now=SUNDAY_NOON)

    assert local_starts(tutor) == on(MONDAY + timedelta(days=7), (9, 0), (10, 0), (11, 0))
    assert reasons(report) == {SkipReason.EXCEPTION: 3}


def test_it_skips_only_the_lessons_a_partial_exception_overlaps():
    tutor = make_tutor()
    window(tutor)
    DateException.objects.create(tutor=tutor, date=MONDAY, start_time=time(10, 30), end_time=time(10, 45))

    report = services.generate_sessions(tutor=tutor, days=7, now=SUNDAY_NOON)

    assert local_starts(tutor) == on(MONDAY, (9, 0), (11, 0))
    assert [(s.local_start, s.reason) for s in report.tutors[0].skipped] == [
        (datetime(2025, 6, 2, 10), SkipReason.EXCEPTION)
    ]


def test_it_uses_a_window_only_between_its_valid_dates():
    tutor = make_tutor()
    second_monday = MONDAY + timedelta(days=7)
    window(tutor, start=9, end=10, valid_until=MONDAY)
    window(tutor, start=14, end=15, valid_from=second_monday)

    services.generate_sessions(tutor=tutor, days=21, now=SUNDAY_NOON)

    assert local_starts(tutor) == [
        *on(MONDAY, (9, 0)),
        *on(second_monday, (14, 0)),
        *on(MONDAY + timedelta(14), (14, 0)),
    ]


def test_it_creates_nothing_inside_the_minimum_notice():
    tutor = make_tutor(min_notice_hours=2)
    window(tutor)

    report = services.generate_sessions(tutor=tutor, days=1, now=datetime(2025, 6, 2, 8, 30, tzinfo=TASHKENT))

    assert local_starts(tutor) == on(MONDAY, (11, 0))
    assert reasons(report) == {SkipReason.NOTICE: 2}


def test_it_creates_nothing_new_when_run_again():
    tutor = make_tutor()
    window(tutor, weekday=0)
    window(tutor, weekday=3, start=15, end=18)
    first = services.generate_sessions(tutor=tutor, days=14, now=SUNDAY_NOON)
    ids = set(Session.objects.values_list("pk", flat=True))

    second = services.generate_sessions(tutor=tutor, days=14, now=SUNDAY_NOON)

    assert first.created == 12
    assert second.created == 0
    assert reasons(second) == {SkipReason.SCHEDULED: 12}
    assert set(Session.objects.values_list("pk", flat=True)) == ids


def test_it_never_overlaps_a_session_of_the_tutor_including_buffers():
    tutor = make_tutor(buffer_after_minutes=15)
    window(tutor, end=13)  # lessons at 9:00, 10:15, 11:30 (11:30-12:30, then 15 minutes' buffer)
    manual = SessionFactory(
        tutor=tutor,
        starts_at=datetime(2025, 6, 2, 12, 40, tzinfo=TASHKENT),
        ends_at=datetime(2025, 6, 2, 13, 0, tzinfo=TASHKENT),
    )

    report = services.generate_sessions(tutor=tutor, days=7, now=SUNDAY_NOON)

    assert local_starts(tutor) == on(MONDAY, (9, 0), (10, 15), (12, 40))
    assert Session.objects.get(starts_at=manual.starts_at) == manual
    assert reasons(report) == {SkipReason.OVERLAP: 1}


def test_it_lets_overlapping_windows_produce_no_overlapping_lessons():
    tutor = make_tutor()
    window(tutor, start=9, end=11)
    window(tutor, start=time(10, 30), end=time(12, 30), product=ProductFactory(kind="lesson"))

    services.generate_sessions(tutor=tutor, days=1, now=datetime(2025, 6, 2, 0, 0, tzinfo=TASHKENT))

    assert local_starts(tutor) == on(MONDAY, (9, 0), (10, 0), (11, 30))


def test_it_does_not_bring_back_a_lesson_staff_cancelled():
    tutor = make_tutor()
    window(tutor)
    services.generate_sessions(tutor=tutor, days=7, now=SUNDAY_NOON)
    ten = Session.objects.get(tutor=tutor, starts_at=datetime(2025, 6, 2, 10, tzinfo=TASHKENT))
    services.cancel_session(ten)

    report = services.generate_sessions(tutor=tutor, days=7, now=SUNDAY_NOON)

    assert report.created == 0
    assert local_starts(tutor) == on(MONDAY, (9, 0), (11, 0))
    assert reasons(report) == {SkipReason.SCHEDULED: 2, SkipReason.CANCELLED: 1}


def test_it_never_generates_past_the_tutors_maximum_advance():
    tutor = make_tutor(max_advance_days=8)
    for weekday in range(7):
        window(tutor, weekday=weekday, start=9, end=10)

    report = services.generate_sessions(tutor=tutor, days=30, now=SUNDAY_NOON)

    assert report.tutors[0].days == 8
    # Today's 9:00 has passed; then the 7 following days.
    assert [d.date() for d in local_starts(tutor)] == [MONDAY + timedelta(days=i) for i in range(7)]


def test_it_skips_windows_of_a_product_not_on_sale():
    tutor = make_tutor()
    window(tutor, product=LessonFactory(is_active=False))

    report = services.generate_sessions(tutor=tutor, days=7, now=SUNDAY_NOON)

    assert report.created == 0
    assert reasons(report) == {SkipReason.PRODUCT_OFF_SALE: 3}


def test_it_generates_for_every_active_tutor_and_defaults_to_the_setting(settings):
    settings.SEATDESK_GENERATE_DAYS = 8
    active, other = make_tutor(), make_tutor()
    idle = make_tutor(is_active=False)
    for tutor in (active, other, idle):
        window(tutor, start=9, end=10)

    report = services.generate_sessions(now=SUNDAY_NOON)

    assert {t.tutor for t in report.tutors} == {active, other}
    assert all(t.days == 8 and t.created == 1 for t in report.tutors)
    assert not Session.objects.filter(tutor=idle).exists()
    assert "inactive" in services.generate_sessions(tutor=idle, now=SUNDAY_NOON).tutors[0].summary()


def test_it_refuses_zero_days():
    with pytest.raises(ValueError, match="at least one day"):
        services.generate_sessions(days=0)


def test_its_queries_do_not_grow_with_the_slots():
    def queries_for(days: int) -> list[str]:
        tutor = make_tutor()
        for weekday in range(7):
            window(tutor, weekday=weekday, start=8, end=20)
        DateException.objects.create(tutor=tutor, date=MONDAY + timedelta(days=1))
        with CaptureQueriesContext(connection) as queries:
            report = services.generate_sessions(tutor=tutor, days=days, now=SUNDAY_NOON)
        assert report.created > 0
        return [q["sql"] for q in queries]

    few, many = queries_for(2), queries_for(30)  # 12 lessons, then 336
    # The tutor's lock, availability, exceptions and sessions are read once; the inserts of the
    # sessions and of their history go in batches as large as the database allows (SQLite's limit
    # on parameters splits 336 sessions in four, their 336 events in two).
    reads = [sql for sql in few if not sql.startswith("INSERT")]
    assert len([sql for sql in many if not sql.startswith("INSERT")]) == len(reads) <= 6
    assert len([sql for sql in many if sql.startswith('INSERT INTO "bookings_session" ')]) <= 4
    assert len([sql for sql in many if sql.startswith('INSERT INTO "bookings_sessionevent" ')]) <= 2
    assert len([sql for sql in many if sql.startswith("INSERT")]) <= 6


def test_it_publishes_each_new_slot_after_commit(django_capture_on_commit_callbacks):
    tutor = make_tutor()
    window(tutor, start=9, end=11)

    with mock.patch("realtime.events._deliver") as deliver:
        with django_capture_on_commit_callbacks(execute=True):
            services.generate_sessions(tutor=tutor, days=7, now=SUNDAY_NOON)

    sent = [
        (message["type"], message["data"], groups)
        for call in deliver.call_args_list
        for message, groups, *_ in call.args[0]
    ]
    created = Session.objects.filter(tutor=tutor).order_by("starts_at")
    assert sent == [
        (
            "slot.updated",
            {
                "session": s.pk,
                "capacity": 1,
                "seats_taken": 0,
                "seats_left": 1,
                "status": "open",
                "seats_text": "1 of 1 left",
            },
            ["staff", f"tutor.{tutor.user_id}"],
        )
        for s in created
    ]


# --- Daylight saving --------------------------------------------------------------------------

# Zone, the last day before clocks go forward, the last day before they go back.
DST_ZONES = [
    pytest.param("Europe/Kyiv", date(2025, 3, 29), date(2025, 10, 25), id="kyiv"),
    pytest.param("America/New_York", date(2025, 3, 8), date(2025, 11, 1), id="new-york"),
]


@pytest.mark.parametrize(("zone", "before_spring", "before_autumn"), DST_ZONES)
def test_it_keeps_lessons_at_nine_local_across_both_transitions(zone, before_spring, before_autumn):
    tutor = make_tutor(timezone=zone)
    for weekday in range(7):
        window(tutor, weekday=weekday)
    tz = zoneinfo.ZoneInfo(zone)

    for day_before in (before_spring, before_autumn):
        now = datetime.combine(day_before, time(0), tzinfo=tz)
        services.generate_sessions(tutor=tutor, days=2, now=now)

        sessions = Session.objects.filter(tutor=tutor, starts_at__gte=now).order_by("starts_at")
        nines = [s.starts_at for s in sessions if s.starts_at.astimezone(tz).hour == 9]
        assert [n.astimezone(tz).date() for n in nines] == [day_before, day_before + timedelta(days=1)]
        assert all(n.astimezone(tz).time() == time(9) for n in nines)
        offsets = [n.astimezone(tz).utcoffset() for n in nines]
        assert offsets[0] != offsets[1]  # the same local hour is a different UTC hour after the change
        assert all(s.ends_at - s.starts_at == timedelta(hours=1) for s in sessions)


def test_it_skips_the_lesson_that_would_start_in_the_spring_forward_gap():
    tutor = make_tutor(timezone="Europe/Kyiv")
    window(tutor, weekday=6, start=2, end=6)  # Sunday 30 March 2025: 03:00 jumps to 04:00
    kyiv = tutor.tzinfo

    report = services.generate_sessions(tutor=tutor, days=1, now=datetime(2025, 3, 30, 0, tzinfo=kyiv))

    sessions = list(Session.objects.filter(tutor=tutor).order_by("starts_at"))
    assert [s.starts_at for s in sessions] == [
        datetime(2025, 3, 30, 0, tzinfo=UTC),  # 02:00 EET
        datetime(2025, 3, 30, 1, tzinfo=UTC),  # 04:00 EEST, the instant the 02:00 lesson ends
        datetime(2025, 3, 30, 2, tzinfo=UTC),  # 05:00 EEST
    ]
    assert [(s.local_start, s.reason) for s in report.tutors[0].skipped] == [
        (datetime(2025, 3, 30, 3), SkipReason.NO_SUCH_TIME)
    ]


def test_it_creates_one_lesson_for_the_repeated_hour_when_clocks_go_back():
    tutor = make_tutor(timezone="Europe/Kyiv")
    window(tutor, weekday=6, start=2, end=6)  # Sunday 26 October 2025: 04:00 EEST back to 03:00 EET
    kyiv = tutor.tzinfo
    now = datetime(2025, 10, 26, 0, tzinfo=kyiv)

    services.generate_sessions(tutor=tutor, days=1, now=now)
    again = services.generate_sessions(tutor=tutor, days=1, now=now)

    starts = list(Session.objects.filter(tutor=tutor).order_by("starts_at").values_list("starts_at", flat=True))
    assert starts == [
        datetime(2025, 10, 25, 23, tzinfo=UTC),  # 02:00 EEST
        datetime(2025, 10, 26, 0, tzinfo=UTC),  # 03:00 EEST, the first of the two 03:00s
        datetime(2025, 10, 26, 2, tzinfo=UTC),  # 04:00 EET
        datetime(2025, 10, 26, 3, tzinfo=UTC),  # 05:00 EET
    ]
    assert again.created == 0


# --- Generators running at once --------------------------------------------------------------


def slow_inserts(pause: float = 0.3):
    """Widen the gap between reading the tutor's sessions and inserting new ones, as a slow server would."""
    real = Session.objects.bulk_create

    def bulk_create(objs, *args, **kwargs):
        sleep(pause)
        return real(objs, *args, **kwargs)

    return mock.patch.object(Session.objects, "bulk_create", side_effect=bulk_create)


def busy_tutor() -> Tutor:
    tutor = make_tutor()
    for weekday in range(7):
        window(tutor, weekday=weekday, start=8, end=20)
    return tutor


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_creates_each_slot_once_when_four_workers_generate_at_once():
    tutor = busy_tutor()

    with slow_inserts():
        results = run_in_threads([lambda: services.generate_sessions(tutor=tutor, days=14, now=SUNDAY_NOON)] * 4)

    assert not [r for r in results if isinstance(r, Exception)], results
    created = Session.objects.filter(tutor=tutor).count()
    assert created == 8 + 13 * 12  # today from noon, then 12 a day
    assert sorted(r.created for r in results) == [0, 0, 0, created]
    assert Session.objects.filter(tutor=tutor).values("starts_at").distinct().count() == created


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_control_without_the_tutor_lock_all_but_one_worker_fail():
    """The same race with the lock and the retry taken out: every worker plans the same slots."""
    tutor = busy_tutor()

    def unguarded(tutor: Tutor, *, days: int, now: datetime, actor) -> object:
        with transaction.atomic():
            return generation._generate_locked(Tutor.objects.get(pk=tutor.pk), days=days, now=now, actor=actor)

    with slow_inserts(), mock.patch.object(generation, "_generate_for_tutor", unguarded):
        results = run_in_threads([lambda: services.generate_sessions(tutor=tutor, days=14, now=SUNDAY_NOON)] * 4)

    assert sum(isinstance(r, IntegrityError) for r in results) == 3, results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_leaves_out_a_slot_staff_add_by_hand_while_it_generates():
    tutor = make_tutor()
    window(tutor)
    nine = datetime(2025, 6, 2, 9, tzinfo=TASHKENT)
    real = Session.objects.bulk_create
    batches: list[int] = []

    def add_by_hand() -> None:
        try:
            SessionFactory(tutor=tutor, starts_at=nine, ends_at=nine + timedelta(hours=1))
        finally:
            connection.close()

    def bulk_create(objs, *args, **kwargs):
        if not batches:  # another connection commits a 9:00 session between our read and our insert
            staff = threading.Thread(target=add_by_hand)
            staff.start()
            staff.join()
        batches.append(len(objs))
        return real(objs, *args, **kwargs)

    with mock.patch.object(Session.objects, "bulk_create", side_effect=bulk_create):
        report = services.generate_sessions(tutor=tutor, days=7, now=SUNDAY_NOON)

    assert batches == [3, 2]  # the first insert hit the unique constraint; the retry left 9:00 out
    assert report.created == 2
    assert reasons(report) == {SkipReason.SCHEDULED: 1}
    assert Session.objects.filter(tutor=tutor).count() == 3
