"""A tutor's dashboard is their workspace: their own day first, in their own time zone, then the
week, their bookings and feedback, unread notifications and the calendar feed; nobody else's."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.models import Role
from backoffice.workspace import workspace_context
from bookings import services
from bookings.calendar_feed import calendar_url
from bookings.models import CancelReason, SessionStatus
from realtime.models import Notification
from tests.factories import (
    FeedbackRequestFactory,
    LessonFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

TASHKENT = ZoneInfo("Asia/Tashkent")
LONDON = ZoneInfo("Europe/London")
# A Tuesday morning at the centre.
NOW = datetime(2026, 3, 10, 8, 0, tzinfo=TASHKENT)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def lesson_at(tutor, starts_at: datetime, **kwargs):
    return SessionFactory(
        product=LessonFactory(name=kwargs.pop("name", "Speaking lesson")),
        tutor=tutor,
        starts_at=starts_at,
        capacity=kwargs.pop("capacity", 3),
        **kwargs,
    )


def workspace_for(rf, user):
    request = rf.get("/admin/")
    request.user = user
    return workspace_context(request)["tutor_workspace"]


def seat_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-session-seats="(\d+)"', html)]


def test_it_lists_today_first_then_the_next_7_days_and_nothing_of_other_tutors(rf, clock):
    tutor, other = TutorFactory(), TutorFactory()
    later_today = lesson_at(tutor, NOW + timedelta(hours=6), name="Writing clinic")
    earlier_today = lesson_at(tutor, NOW + timedelta(hours=1))
    tomorrow = lesson_at(tutor, NOW + timedelta(days=1))
    in_a_week = lesson_at(tutor, NOW + timedelta(days=7))
    lesson_at(tutor, NOW + timedelta(days=8, hours=1))  # beyond the week
    lesson_at(tutor, NOW + timedelta(hours=3), status=SessionStatus.CANCELLED)
    lesson_at(other, NOW + timedelta(hours=2))

    ws = workspace_for(rf, tutor.user)

    assert ws.today.isoformat() == "2026-03-10"
    today_html = " ".join(str(cell) for row in ws.today_sessions.rows for cell in row)
    assert seat_ids(today_html) == [earlier_today.pk, later_today.pk]
    assert "Writing clinic" in today_html
    assert "09:00–10:00" in today_html  # tutor-local time, no centre time when the zones agree
    assert "centre" not in today_html
    week_html = " ".join(str(cell) for row in ws.week_sessions.rows for cell in row)
    assert seat_ids(week_html) == [tomorrow.pk, in_a_week.pk]


def test_it_shows_a_tutor_abroad_their_own_day_with_the_centres_clock_beside_it(rf):
    tutor = TutorFactory(timezone="Europe/London")
    # 20:00 on Monday in London is already 01:00 on Tuesday at the centre.
    now = datetime(2026, 3, 9, 20, 0, tzinfo=LONDON)
    tonight = lesson_at(tutor, datetime(2026, 3, 9, 22, 0, tzinfo=LONDON))
    tomorrow = lesson_at(tutor, datetime(2026, 3, 10, 9, 0, tzinfo=LONDON))

    with time_machine.travel(now, tick=False):
        ws = workspace_for(rf, tutor.user)

    assert ws.today.isoformat() == "2026-03-09"
    assert [seat_ids(str(row[3])) for row in ws.today_sessions.rows] == [[tonight.pk]]
    assert "22:00–23:00" in str(ws.today_sessions.rows[0][0])
    assert "(centre 03:00)" in str(ws.today_sessions.rows[0][0])
    assert [seat_ids(str(row[3])) for row in ws.week_sessions.rows] == [[tomorrow.pk]]
    assert "Tue 10 Mar 09:00–10:00" in str(ws.week_sessions.rows[0][0])


def test_it_lists_the_bookings_on_coming_sessions_with_their_count(rf, clock):
    tutor = TutorFactory()
    soon, later = lesson_at(tutor, NOW + timedelta(hours=5)), lesson_at(tutor, NOW + timedelta(days=2))
    past = lesson_at(tutor, NOW - timedelta(days=1))
    pending = services.book(session=later, student=StudentFactory())
    confirmed = services.confirm(services.book(session=soon, student=StudentFactory()))
    cancelled = services.book(session=soon, student=StudentFactory())
    services.cancel(cancelled, reason=CancelReason.STAFF)
    with time_machine.travel(past.starts_at - timedelta(days=1), tick=False):
        services.book(session=past, student=StudentFactory())  # its session is over
    services.book(session=lesson_at(TutorFactory(), NOW + timedelta(hours=5)), student=StudentFactory())

    ws = workspace_for(rf, tutor.user)

    assert ws.bookings_total == 2
    references = [re.search(r">(\w+)</a>", str(row[0])).group(1) for row in ws.bookings.rows]
    assert references == [confirmed.reference, pending.reference]  # by session start
    assert ws.bookings.rows[1][4] != "—"  # a pending booking shows the time left to pay


def test_it_lists_open_feedback_assigned_to_the_tutor(rf, clock):
    tutor = TutorFactory()
    waiting = FeedbackRequestFactory(tutor=tutor, task="Describe a chart")
    FeedbackRequestFactory(tutor=tutor, completed=True)
    FeedbackRequestFactory(tutor=TutorFactory())
    FeedbackRequestFactory(tutor=None)

    ws = workspace_for(rf, tutor.user)

    assert ws.feedback_open == 1
    assert [row[3] for row in ws.feedback.rows] == ["Describe a chart"]
    assert reverse("admin:bookings_feedbackrequest_change", args=[waiting.pk]) in str(ws.feedback.rows[0][4])


def test_the_dashboard_of_a_tutor_is_their_workspace(client, clock):
    tutor, other = TutorFactory(), TutorFactory()
    mine = lesson_at(tutor, NOW + timedelta(hours=3))
    theirs = lesson_at(other, NOW + timedelta(hours=3))
    services.book(session=mine, student=StudentFactory())
    Notification.objects.create(recipient=tutor.user, type="booking.created", title="New booking")
    Notification.objects.create(recipient=other.user, type="booking.created", title="New booking")
    client.force_login(tutor.user)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["workspace"] is True
    assert 'id="sd-workspace"' in html
    assert f'data-session-seats="{mine.pk}" data-seats-kind="seats">2 of 3 left<' in html
    assert f'data-session-seats="{theirs.pk}"' not in html
    assert reverse("admin:bookings_session_change", args=[mine.pk]) in html
    assert f"{reverse('admin:bookings_booking_changelist')}?session__id__exact={mine.pk}" in html
    assert calendar_url(tutor) in html
    assert calendar_url(other) not in html
    assert "New Calendar Subscription" in html  # how to subscribe
    unread = Notification.objects.filter(recipient=tutor.user, read=False).count()  # the booking's and ours
    assert unread == 2
    assert response.context["tutor_workspace"].unread == unread
    assert f'data-unread="{unread}"' in html  # the bell agrees


def test_its_links_open_for_the_tutor(client, clock):
    tutor = TutorFactory()
    session = lesson_at(tutor, NOW + timedelta(hours=3))
    services.book(session=session, student=StudentFactory())
    FeedbackRequestFactory(tutor=tutor)
    client.force_login(tutor.user)
    ws = client.get(reverse("admin:index")).context["tutor_workspace"]

    for url in (
        reverse("admin:bookings_session_change", args=[session.pk]),
        f"{reverse('admin:bookings_booking_changelist')}?session__id__exact={session.pk}",
        ws.bookings_link,
        ws.feedback_link,
        ws.notifications_link,
    ):
        assert client.get(url).status_code == 200, url


def test_it_tells_a_tutor_without_a_profile_to_ask_for_one(client):
    client.force_login(UserFactory(role=Role.TUTOR))

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert response.context["tutor_workspace"] is None
    assert "Your tutor profile is not set up yet" in response.content.decode()


def test_it_costs_the_same_queries_for_a_busy_week_as_for_a_quiet_one(client, clock):
    tutor = TutorFactory()

    def add(count: int, first: int = 0) -> None:
        for i in range(first, first + count):
            session = lesson_at(tutor, NOW + timedelta(hours=3 + 12 * i))
            services.book(session=session, student=StudentFactory())
            FeedbackRequestFactory(tutor=tutor)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("admin:index")).status_code == 200
        return len(captured)

    client.force_login(tutor.user)
    add(1)
    client.get(reverse("admin:index"))  # warm the session and the cached counts
    quiet = queries()
    add(12, first=1)
    busy = client.get(reverse("admin:index")).context["tutor_workspace"]
    assert (len(busy.today_sessions.rows) + len(busy.week_sessions.rows), busy.bookings_total) == (13, 13)

    assert queries() == quiet
