"""The notifications a person reads in the back office: who gets an import's, the words and local
times they are shown in, the link to what they are about (only for someone who may open it),
Mark all read, and one unread count on every counter of a page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.imports.runner import publish_finished
from bookings.models import ImportRecord, ImportStatus, Session
from realtime import inbox
from realtime.events import publish
from realtime.models import Notification
from tests.factories import ManagerFactory, OperatorFactory, SessionFactory, StudentFactory, TutorFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:realtime_notification_changelist"
MARK_ALL = "admin:realtime_notification_mark_all_read"
BELL_MENU = "admin:realtime_notification_bell"
TASHKENT = ZoneInfo("Asia/Tashkent")


def booked(tutor, django_capture_on_commit_callbacks):
    """A booking on a new session of ``tutor``'s, made by the service (which stores the tutor's notification)."""
    later = Session.objects.filter(tutor=tutor).count()
    starts = timezone.now().replace(microsecond=0) + timedelta(days=3, hours=later)
    with django_capture_on_commit_callbacks(execute=True):
        return services.book(
            session=SessionFactory(tutor=tutor, capacity=3, starts_at=starts), student=StudentFactory()
        )


def finished_import(actor) -> ImportRecord:
    return ImportRecord.objects.create(kind="students", filename="s.csv", created_by=actor, status=ImportStatus.DONE)


# --- import.finished reaches the whole desk ----------------------------------------------------------


def test_it_stores_an_imports_notification_for_every_operator_and_manager(django_capture_on_commit_callbacks):
    operators, manager, tutor = [OperatorFactory(), OperatorFactory()], ManagerFactory(), TutorFactory()
    gone = OperatorFactory(is_active=False)
    record = ImportRecord.objects.create(
        kind="students", filename="s.csv", created_by=manager, status=ImportStatus.DONE
    )

    with django_capture_on_commit_callbacks(execute=True):
        publish_finished(record, summary="2 new")

    got = set(Notification.objects.filter(type="import.finished").values_list("recipient_id", flat=True))
    assert got == {operators[0].pk, operators[1].pk, manager.pk}
    assert tutor.user_id not in got and gone.pk not in got
    assert Notification.objects.filter(type="import.finished", recipient=manager).count() == 1  # not twice


def test_an_operators_bell_counts_a_managers_import_at_once(client, django_capture_on_commit_callbacks):
    operator, manager = OperatorFactory(), ManagerFactory()
    client.force_login(operator)
    assert 'data-unread="0"' in client.get(reverse("admin:index")).content.decode()  # cached at 0 now
    record = ImportRecord.objects.create(
        kind="students", filename="s.csv", created_by=manager, status=ImportStatus.DONE
    )

    with django_capture_on_commit_callbacks(execute=True):
        publish_finished(record, summary="2 new")

    assert 'data-unread="1"' in client.get(reverse("admin:index")).content.decode()


# --- Words and local times ----------------------------------------------------------------------------


def test_the_list_shows_the_type_in_words_and_the_local_24_hour_time(client, time_machine):
    operator = OperatorFactory()
    time_machine.move_to(datetime(2026, 12, 3, 18, 2, tzinfo=TASHKENT), tick=False)  # 13:02 UTC
    Notification.objects.create(recipient=operator, type="booking.created", title="New booking", message="AB12 · Ann")
    client.force_login(operator)

    html = client.get(reverse(CHANGELIST)).content.decode()

    assert "03 Dec 2026, 18:02" in html
    assert "13:02" not in html and "p.m." not in html
    assert "booking.created" not in re.sub(r'(href|value|name)="[^"]*"', "", html)  # filter links carry the code
    assert "New booking" in html


def test_a_notifications_page_shows_its_data_in_words_not_json(client, django_capture_on_commit_callbacks):
    tutor = TutorFactory()
    booking = booked(tutor, django_capture_on_commit_callbacks)
    note = Notification.objects.get(recipient=tutor.user, type="booking.created")
    client.force_login(tutor.user)

    html = client.get(reverse("admin:realtime_notification_change", args=[note.pk])).content.decode()

    assert "New booking" in html
    assert f"<dd>{booking.reference}</dd>" in html
    assert f"<dd>{booking.get_status_display()}</dd>" in html  # "Pending payment", not "pending"
    assert '"type": "booking.created"' not in html and "&quot;booking&quot;" not in html
    assert f'href="{reverse("admin:bookings_booking_change", args=[booking.pk])}"' in html


# --- Links to what a notification is about ---------------------------------------------------------------


def test_the_list_links_a_notification_to_its_booking(client, django_capture_on_commit_callbacks):
    tutor = TutorFactory()
    booking = booked(tutor, django_capture_on_commit_callbacks)
    client.force_login(tutor.user)

    html = client.get(reverse(CHANGELIST)).content.decode()

    link = reverse("admin:bookings_booking_change", args=[booking.pk])
    assert f'href="{link}"' in html and f"Open booking {booking.reference}" in html
    assert client.get(link).status_code == 200


def test_no_link_is_offered_to_a_booking_the_person_may_not_open(client, django_capture_on_commit_callbacks):
    aziza, james = TutorFactory(), TutorFactory()
    theirs = booked(james, django_capture_on_commit_callbacks)
    # A notification of Aziza's about James's booking (say the booking moved to his session).
    publish(
        "booking.rescheduled", {"booking": theirs.pk, "reference": theirs.reference}, groups=[], recipients=[aziza.user]
    )
    client.force_login(aziza.user)

    html = client.get(reverse(CHANGELIST)).content.decode()

    assert "Booking rescheduled" in html
    assert reverse("admin:bookings_booking_change", args=[theirs.pk]) not in html
    assert f"Open booking {theirs.reference}" not in html


def test_the_list_costs_the_same_queries_for_5_or_25_notifications(client):
    tutor = TutorFactory()
    session = SessionFactory(tutor=tutor, capacity=30)
    bookings = [services.book(session=session, student=StudentFactory()) for _ in range(25)]
    client.force_login(tutor.user)
    client.get(reverse(CHANGELIST))  # warm: session, user, caches

    def count(n: int) -> int:
        Notification.objects.all().delete()
        for b in bookings[:n]:
            publish("booking.created", {"booking": b.pk, "reference": b.reference}, groups=[], recipients=[tutor.user])
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse(CHANGELIST)).status_code == 200
        return len(queries)

    assert count(25) == count(5)


# --- Mark all read -------------------------------------------------------------------------------------


def test_mark_all_read_reads_every_own_notification_and_goes_back(client, django_capture_on_commit_callbacks):
    tutor, other = TutorFactory(), OperatorFactory()
    for _ in range(3):
        Notification.objects.create(recipient=tutor.user, type="booking.created", title="New booking")
    theirs = Notification.objects.create(recipient=other, type="booking.created", title="New booking")
    client.force_login(tutor.user)
    assert inbox.unread_count(tutor.user_id) == 3  # cached

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(MARK_ALL), {"next": "/admin/bookings/session/"})

    assert response.status_code == 302 and response.url == "/admin/bookings/session/"
    assert not Notification.objects.filter(recipient=tutor.user, read=False).exists()
    theirs.refresh_from_db()
    assert theirs.read is False
    page = client.get(reverse("admin:index")).content.decode()
    assert 'data-unread="0"' in page
    assert "3 notifications marked as read." in page


def test_mark_all_read_refuses_get_and_a_foreign_next(client):
    operator = OperatorFactory()
    client.force_login(operator)

    assert client.get(reverse(MARK_ALL)).status_code == 405
    response = client.post(reverse(MARK_ALL), {"next": "https://evil.example/"})
    assert response.status_code == 302 and response.url == reverse(CHANGELIST)


def test_mark_all_read_is_not_for_anonymous_or_students(client):
    assert client.post(reverse(MARK_ALL)).status_code == 302  # to the login page
    client.force_login(StudentFactory())
    assert client.post(reverse(MARK_ALL)).status_code == 302


def test_the_list_and_the_bell_menu_offer_mark_all_read(client):
    operator = OperatorFactory()
    Notification.objects.create(recipient=operator, type="import.finished", title="Import finished", message="2 new")
    client.force_login(operator)

    listing = client.get(reverse(CHANGELIST)).content.decode()
    menu = client.get(reverse(BELL_MENU), {"next": "/admin/"}).content.decode()

    for html in (listing, menu):
        assert f'action="{reverse(MARK_ALL)}"' in html and "Mark all read" in html
    assert "Import finished" in menu and "2 new" in menu
    assert 'name="next" value="/admin/"' in menu


def test_the_bell_menu_is_ones_own_only(client):
    operator = OperatorFactory()
    Notification.objects.create(recipient=ManagerFactory(), type="booking.created", title="Someone else's")
    client.force_login(operator)

    menu = client.get(reverse(BELL_MENU)).content.decode()

    assert "Someone else" not in menu and "No notifications yet." in menu
    client.force_login(StudentFactory())
    assert client.get(reverse(BELL_MENU)).status_code == 302


# --- One count on every counter ----------------------------------------------------------------------------


def counters(html: str) -> dict[str, str]:
    """The unread count as the bell, the sidebar badge and the workspace card render it."""
    bell = re.search(r'<a id="sd-bell"[^>]*data-unread="(\d+)"', html).group(1)
    figures = re.findall(r"<span[^>]*data-unread-count[^>]*>\s*([^<]*?)\s*</span>", html)
    card = re.search(r'id="sd-workspace-unread" data-unread-count>(\d+)<', html).group(1)
    return {"bell": bell, "figures": sorted(set(figures)), "card": card}


def test_a_tutors_bell_sidebar_badge_and_workspace_card_agree(client, django_capture_on_commit_callbacks):
    tutor = TutorFactory()
    client.force_login(tutor.user)
    assert counters(client.get(reverse("admin:index")).content.decode()) == {"bell": "0", "figures": ["0"], "card": "0"}

    booked(tutor, django_capture_on_commit_callbacks)
    booked(tutor, django_capture_on_commit_callbacks)

    html = client.get(reverse("admin:index")).content.decode()
    assert counters(html) == {"bell": "2", "figures": ["2"], "card": "2"}
    assert len(re.findall(r"data-unread-count", html)) == 3  # bell, sidebar, card
