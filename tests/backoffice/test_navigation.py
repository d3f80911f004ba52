"""The frame around every admin page: the notifications bell in the header, the sidebar's System
group and the live counts (badges) next to links where a number asks someone to act."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_q.models import Task

from backoffice import badges
from bookings import services
from realtime.models import Notification
from tests.factories import (
    FeedbackRequestFactory,
    LessonFactory,
    ManagerFactory,
    OperatorFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
)

pytestmark = pytest.mark.django_db

SYSTEM_LINKS = (
    "admin:realtime_notification_changelist",
    "admin:django_q_success_changelist",
    "admin:django_q_failure_changelist",
    "admin:django_q_schedule_changelist",
    # The queue's own table exists on the ORM broker only; with Redis the queue lives there.
    *(() if settings.Q_CLUSTER.get("redis") else ("admin:django_q_ormq_changelist",)),
)


def notify(user, count: int = 1) -> list[Notification]:
    return [
        Notification.objects.create(recipient=user, type="booking.created", title=f"New booking {i}")
        for i in range(count)
    ]


def bell(html: str) -> str:
    match = re.search(r'<a id="sd-bell".*?</a>', html, re.S)
    assert match, "no bell in the header"
    return match.group(0)


def badge_after(html: str, link: str) -> str | None:
    """The sidebar badge of the item linking to ``link``, or None when it has none."""
    item = re.search(rf'href="{re.escape(link)}".*?</a>', html, re.S).group(0)
    badge = re.search(r'class="sidebar-badge[^"]*"\s*>\s*([^<]*?)\s*</span>', item, re.S)
    return badge.group(1) if badge else None


def request_by(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


# --- The bell --------------------------------------------------------------------------------


def test_the_bell_shows_the_unread_count_and_links_to_the_unread_list(client):
    operator = OperatorFactory()
    mine = notify(operator, 2)
    mine[0].read = True
    mine[0].save()
    notify(OperatorFactory(), 3)  # someone else's
    client.force_login(operator)

    html = client.get(reverse("admin:bookings_booking_changelist")).content.decode()

    header_bell = bell(html)
    assert 'data-unread="1"' in header_bell
    assert ">notifications<" in header_bell  # the Material Symbols icon
    link = re.search(r'href="([^"]+)"', header_bell).group(1).replace("&amp;", "&")
    assert (
        link == f"{reverse('admin:realtime_notification_changelist')}?read__exact=0&recipient__id__exact={operator.pk}"
    )
    listed = client.get(link)
    assert listed.status_code == 200
    assert list(listed.context["cl"].queryset) == [mine[1]]


def test_the_bell_hides_its_count_at_zero(client):
    client.force_login(ManagerFactory())

    header_bell = bell(client.get(reverse("admin:index")).content.decode())

    assert 'data-unread="0"' in header_bell
    assert "display: none" in header_bell


def test_the_bell_drops_to_zero_once_the_notifications_are_marked_read(client, django_capture_on_commit_callbacks):
    operator = OperatorFactory()
    unread = notify(operator, 2)
    client.force_login(operator)
    changelist = reverse("admin:realtime_notification_changelist")
    assert 'data-unread="2"' in bell(client.get(changelist).content.decode())  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "mark_read", "_selected_action": [n.pk for n in unread]})

    assert 'data-unread="0"' in bell(client.get(changelist).content.decode())


def test_a_tutor_has_a_bell_too(client):
    tutor = TutorFactory()
    notify(tutor.user, 4)
    client.force_login(tutor.user)

    assert 'data-unread="4"' in bell(client.get(reverse("admin:bookings_session_changelist")).content.decode())


# --- The System group ------------------------------------------------------------------------


def test_a_managers_system_group_links_to_every_task_page_and_each_opens(client):
    client.force_login(ManagerFactory())
    html = client.get(reverse("admin:index")).content.decode()

    for name in SYSTEM_LINKS:
        link = reverse(name)
        assert f'href="{link}"' in html, name
        assert client.get(link).status_code == 200, name


def test_an_operator_sees_notifications_but_not_the_task_queue(client):
    client.force_login(OperatorFactory())
    html = client.get(reverse("admin:index")).content.decode()

    assert f'href="{reverse(SYSTEM_LINKS[0])}"' in html
    for name in SYSTEM_LINKS[1:]:
        assert f'href="{reverse(name)}"' not in html, name


# --- Badges ----------------------------------------------------------------------------------


def test_the_bookings_badge_counts_unpaid_bookings_losing_their_seat_within_the_hour(client):
    tutor = TutorFactory()
    exam = SessionFactory(starts_at=timezone.now() + timedelta(days=5))
    lesson = SessionFactory(product=LessonFactory(), tutor=tutor, capacity=5, starts_at=exam.starts_at)
    booked_at = timezone.now()
    services.book(session=exam, student=StudentFactory())  # expires 24 h after booking
    services.book(session=lesson, student=StudentFactory())
    services.confirm(services.book(session=exam, student=StudentFactory()))  # paid: not expiring
    with time_machine.travel(booked_at + timedelta(hours=2), tick=False):
        services.book(session=exam, student=StudentFactory())  # expires two hours after the others

    with time_machine.travel(booked_at + timedelta(hours=23, minutes=30), tick=False):
        operator = OperatorFactory()
        assert badges.pending_expiring(request_by(operator)) == "2"
        assert badges.pending_expiring(request_by(tutor.user)) == "1"  # only on their own sessions
        client.force_login(operator)
        html = client.get(reverse("admin:index")).content.decode()

    assert badge_after(html, reverse("admin:bookings_booking_changelist")) == "2"


def test_a_badge_is_empty_at_zero_and_then_not_shown(client):
    manager = ManagerFactory()
    assert badges.pending_expiring(request_by(manager)) == ""
    client.force_login(manager)

    html = client.get(reverse("admin:index")).content.decode()

    assert badge_after(html, reverse("admin:bookings_booking_changelist")) is None


def test_the_feedback_badge_counts_a_tutors_open_requests_and_for_staff_the_unassigned(client):
    tutor = TutorFactory()
    FeedbackRequestFactory(tutor=tutor)
    FeedbackRequestFactory(tutor=tutor, completed=True)
    FeedbackRequestFactory(tutor=TutorFactory())
    FeedbackRequestFactory.create_batch(3, tutor=None)

    assert badges.open_feedback(request_by(tutor.user)) == "1"
    assert badges.open_feedback(request_by(OperatorFactory())) == "3"
    client.force_login(tutor.user)
    html = client.get(reverse("admin:index")).content.decode()
    assert badge_after(html, reverse("admin:bookings_feedbackrequest_changelist")) == "1"


def test_the_failed_tasks_badge_counts_failures(client):
    now = timezone.now()
    for i, success in enumerate((False, False, True)):
        Task.objects.create(
            id=f"{i:032x}",
            name=f"task-{i}",
            func="bookings.tasks.send_due_reminders",
            started=now,
            stopped=now,
            success=success,
        )
    client.force_login(ManagerFactory())

    html = client.get(reverse("admin:index")).content.decode()

    assert badge_after(html, reverse("admin:django_q_failure_changelist")) == "2"
    # django-q2's own task pages, re-registered on unfold's ModelAdmin, open with a row in them.
    assert client.get(reverse("admin:django_q_failure_change", args=[f"{0:032x}"])).status_code == 200
    assert client.get(reverse("admin:django_q_success_change", args=[f"{2:032x}"])).status_code == 200


def test_the_notifications_badge_counts_the_persons_unread(client):
    operator = OperatorFactory()
    notify(operator, 3)
    notify(ManagerFactory(), 5)
    client.force_login(operator)

    html = client.get(reverse("admin:index")).content.decode()

    assert badge_after(html, reverse("admin:realtime_notification_changelist")) == "3"


def test_badges_are_counted_once_then_read_from_the_cache(django_assert_num_queries):
    tutor = TutorFactory()
    request = request_by(tutor.user)
    callbacks = (badges.pending_expiring, badges.open_feedback, badges.unread_notifications, badges.failed_tasks)
    with django_assert_num_queries(len(callbacks)):
        first = [badge(request) for badge in callbacks]
    FeedbackRequestFactory(tutor=tutor)  # not seen until the cache entry lapses

    with django_assert_num_queries(0):
        assert [badge(request) for badge in callbacks] == first


@pytest.mark.parametrize(
    ("page", "open_link"),
    [
        ("admin:bookings_session_changelist", "Sessions"),
        ("admin:bookings_session_calendar", "Calendar"),
        ("admin:bookings_session_add", "Sessions"),
    ],
)
def test_one_sidebar_link_is_the_page_open(client, page, open_link):
    """The calendar's address is under the sessions': only the calendar is marked on it."""
    client.force_login(ManagerFactory())
    html = client.get(reverse(page)).content.decode()
    marked = re.findall(
        r'<a href="[^"]*"[^>]*class="[^"]*\bactive"[^>]*>\s*<span[^>]*>[^<]*</span>\s*<span[^>]*>\s*([^<]+?)\s*<', html
    )
    assert open_link in marked
    assert {"Sessions", "Calendar"} & set(marked) == {open_link}
