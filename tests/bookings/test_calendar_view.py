"""The sessions calendar: week, day and month views on the centre's clock, filters and tutor scoping."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice.models import User
from bookings import services
from bookings.admin.calendar import MONTH_CELL_LIMIT
from tests.factories import LessonFactory, ManagerFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:bookings_session_calendar")


def monday(weeks_ahead: int = 2) -> date:
    today = timezone.localdate()
    return today - timedelta(days=today.weekday()) + timedelta(weeks=weeks_ahead)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """An aware datetime at ``hour:minute`` on ``day`` on the centre's clock (Asia/Tashkent, UTC+5)."""
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute))


def by_day(response) -> dict[date, list[int]]:
    return {c.day: [e.session.pk for e in c.entries] for c in response.context["columns"]}


@pytest.fixture
def manager_client(client):
    client.force_login(ManagerFactory())
    return client


def test_the_week_puts_each_session_on_its_local_day(manager_client):
    week = monday()
    sunday_night = SessionFactory(starts_at=at(week + timedelta(days=6), 23, 30))  # 18:30 UTC
    monday_morning = SessionFactory(starts_at=at(week, 0, 30))  # 19:30 UTC on the Sunday before
    next_monday = SessionFactory(starts_at=at(week + timedelta(days=7), 0, 30))
    SessionFactory(starts_at=at(week - timedelta(days=1), 23, 0))  # the Sunday before

    response = manager_client.get(URL, {"view": "week", "date": (week + timedelta(days=3)).isoformat()})

    assert response.status_code == 200
    days = by_day(response)
    assert list(days) == [week + timedelta(days=i) for i in range(7)]
    assert days[week] == [monday_morning.pk]
    assert days[week + timedelta(days=6)] == [sunday_night.pk]
    assert all(next_monday.pk not in pks for pks in days.values())
    assert sum(len(pks) for pks in days.values()) == 2


def test_a_card_shows_time_tutor_room_seats_and_status_and_links_to_the_session(manager_client):
    week = monday()
    tutor = TutorFactory(user__first_name="Aziza", user__last_name="Karimova")
    session = SessionFactory(
        product=LessonFactory(name="Speaking clinic", duration_minutes=90),
        tutor=tutor,
        room="Room 7",
        capacity=4,
        starts_at=at(week + timedelta(days=1), 14),
    )
    services.book(session=session, student=StudentFactory())
    cancelled = SessionFactory(product=LessonFactory(name="Writing lab"), starts_at=at(week + timedelta(days=2), 9))
    services.cancel_session(cancelled)

    html = manager_client.get(URL, {"date": week.isoformat()}).content.decode()

    assert reverse("admin:bookings_session_change", args=[session.pk]) in html
    for text in ("Speaking clinic", "14:00–15:30", "Aziza Karimova", "Room 7", "Open"):
        assert text in html
    assert f'data-session-seats="{session.pk}" data-seats-kind="seats">3 of 4 left</span>' in html
    assert f'data-session-seats="{cancelled.pk}" data-seats-kind="seats">cancelled</span>' in html
    assert 'style="text-decoration: line-through;">Writing lab<' in html


def test_the_day_view_has_a_column_per_tutor_or_per_room(manager_client):
    day = monday() + timedelta(days=2)
    aziza = TutorFactory(user__first_name="Aziza", user__last_name="K")
    james = TutorFactory(user__first_name="James", user__last_name="B")
    a1 = SessionFactory(product=LessonFactory(), tutor=aziza, room="Room 1", starts_at=at(day, 9))
    a2 = SessionFactory(product=LessonFactory(), tutor=aziza, room="Room 2", starts_at=at(day, 11))
    j1 = SessionFactory(product=LessonFactory(), tutor=james, room="Room 1", starts_at=at(day, 10))
    exam = SessionFactory(room="Hall", starts_at=at(day, 8))
    SessionFactory(product=LessonFactory(), tutor=james, starts_at=at(day + timedelta(days=1), 9))

    response = manager_client.get(URL, {"view": "day", "date": day.isoformat()})
    columns = {c.title: [e.session.pk for e in c.entries] for c in response.context["columns"]}
    assert columns == {"Aziza K": [a1.pk, a2.pk], "James B": [j1.pk], "No tutor": [exam.pk]}

    response = manager_client.get(URL, {"view": "day", "date": day.isoformat(), "by": "room"})
    columns = {c.title: [e.session.pk for e in c.entries] for c in response.context["columns"]}
    assert columns == {"Hall": [exam.pk], "Room 1": [a1.pk, j1.pk], "Room 2": [a2.pk]}


def test_the_month_view_shows_a_few_sessions_a_day_and_links_to_the_rest(manager_client):
    day = timezone.localdate().replace(day=15) + timedelta(days=40)
    day = day.replace(day=15)
    sessions = [SessionFactory(starts_at=at(day, 8 + i)) for i in range(MONTH_CELL_LIMIT + 2)]

    response = manager_client.get(URL, {"view": "month", "date": day.isoformat()})

    weeks = response.context["weeks"]
    assert all(len(week) == 7 for week in weeks)
    assert weeks[0][0].day.weekday() == 0 and weeks[0][0].day <= day.replace(day=1)
    cell = next(c for week in weeks for c in week if c.day == day)
    assert [e.session.pk for e in cell.shown] == [s.pk for s in sessions[:MONTH_CELL_LIMIT]]
    html = response.content.decode()
    assert "+2 more" in html
    assert f"view=day&amp;date={day.isoformat()}" in html


def test_previous_and_next_move_by_the_view_and_keep_the_filters(manager_client):
    week = monday()
    SessionFactory(room="Hall")  # a room filter names a room in use
    links = manager_client.get(URL, {"view": "week", "date": week.isoformat(), "room": "Hall"}).context["links"]

    assert links["previous"] == f"{URL}?view=week&date={(week - timedelta(days=7)).isoformat()}&room=Hall"
    assert links["next"] == f"{URL}?view=week&date={(week + timedelta(days=7)).isoformat()}&room=Hall"
    assert links["today"] == f"{URL}?view=week&date={timezone.localdate().isoformat()}&room=Hall"

    month = manager_client.get(URL, {"view": "month", "date": "2030-01-31"}).context["links"]
    assert "date=2029-12-01" in month["previous"] and "date=2030-02-01" in month["next"]


def test_it_filters_by_tutor_and_room(manager_client):
    week = monday()
    aziza, james = TutorFactory(), TutorFactory()
    mine = SessionFactory(product=LessonFactory(), tutor=aziza, room="Room 1", starts_at=at(week, 9))
    SessionFactory(product=LessonFactory(), tutor=aziza, room="Room 2", starts_at=at(week, 11))
    SessionFactory(product=LessonFactory(), tutor=james, room="Room 1", starts_at=at(week, 10))

    response = manager_client.get(URL, {"date": week.isoformat(), "tutor": aziza.pk, "room": "Room 1"})

    assert [e.session.pk for e in response.context["entries"]] == [mine.pk]
    html = response.content.decode()
    assert f'<option value="{aziza.pk}" selected>' in html
    assert '<option value="Room 1" selected>' in html


def test_unreadable_parameters_fall_back_to_this_week(manager_client):
    response = manager_client.get(URL, {"view": "year", "date": "soon", "tutor": "x", "room": "Nowhere"})

    assert response.status_code == 200
    assert response.context["view"] == "week"
    assert response.context["day"] == timezone.localdate()


def test_it_costs_the_same_queries_for_3_sessions_as_for_30(manager_client):
    week = monday()
    tutors = [TutorFactory() for _ in range(3)]

    def add(first: int, count: int) -> None:
        for i in range(first, first + count):  # a different day or hour each
            day = week + timedelta(days=i % 7)
            SessionFactory(
                product=LessonFactory(), tutor=tutors[i % 3], room=f"Room {i % 4}", starts_at=at(day, 8 + i // 7)
            )

    def queries(view: str) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get(URL, {"view": view, "date": week.isoformat()}).status_code == 200
        return [q["sql"] for q in captured.captured_queries]

    add(0, 3)
    manager_client.get(URL)  # warm the session and permission caches
    before = {view: len(queries(view)) for view in ("week", "day", "month")}
    add(3, 27)
    after = {view: len(queries(view)) for view in ("week", "day", "month")}

    assert before == after
    # The sessions themselves, with product, tutor and tutor's user, in one query.
    reads = [sql for sql in queries("week") if 'JOIN "bookings_product"' in sql]
    assert len(reads) == 1
    assert '"bookings_tutor"' in reads[0] and '"backoffice_user"' in reads[0]


def test_a_tutor_sees_only_their_own_sessions_whatever_the_filter(client):
    week = monday()
    tutor, other = TutorFactory(), TutorFactory()
    own = SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=at(week, 9))
    SessionFactory(product=LessonFactory(), tutor=other, starts_at=at(week, 10))
    SessionFactory(starts_at=at(week, 11))  # an exam without a tutor
    client.force_login(tutor.user)

    response = client.get(URL, {"date": week.isoformat(), "tutor": other.pk})

    assert response.status_code == 200
    assert [e.session.pk for e in response.context["entries"]] == [own.pk]
    assert not response.context["show_tutor_filter"]


def test_it_needs_the_view_session_permission(client):
    student = StudentFactory()
    client.force_login(student)
    assert client.get(URL).status_code == 302  # not staff: to the login page

    User.objects.filter(pk=student.pk).update(is_staff=True)  # staff, but with no permission at all
    assert client.get(URL).status_code == 403


def test_the_sidebar_links_to_the_calendar(manager_client):
    html = manager_client.get(reverse("admin:index")).content.decode()
    assert URL in html and "<span>Calendar</span>" in html

    page = manager_client.get(URL).content.decode()
    assert "Calendar" in page and 'id="session-calendar"' in page
