"""The tutors admin: settings, availability (with its product) and days off, and "Generate sessions"."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bookings.models import Availability, DateException, Session, SessionSource, Tutor
from tests.factories import LessonFactory, ManagerFactory, OperatorFactory, TutorFactory

pytestmark = pytest.mark.django_db

# Sunday noon in Tashkent; each tutor below teaches Mondays 9:00-12:00, three one-hour lessons.
SUNDAY_NOON = datetime(2025, 6, 1, 12, tzinfo=zoneinfo.ZoneInfo("Asia/Tashkent"))
CHANGELIST = reverse("admin:bookings_tutor_changelist")


def teaching_tutor(**fields) -> Tutor:
    tutor = TutorFactory(lesson_minutes=60, buffer_after_minutes=0, min_notice_hours=0, **fields)
    Availability.objects.create(tutor=tutor, product=LessonFactory(), weekday=0, start_time=time(9), end_time=time(12))
    return tutor


def generate_url(tutor: Tutor) -> str:
    return reverse("admin:bookings_tutor_generate_sessions_detail", args=[tutor.pk])


def shown(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def with_permissions(user, *codenames: str):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="bookings", codename__in=codenames))
    return user


@pytest.fixture
def manager_client(client):
    client.force_login(ManagerFactory())
    return client


@pytest.fixture(autouse=True)
def _sunday_noon():
    with time_machine.travel(SUNDAY_NOON, tick=False):
        yield


def test_it_offers_generation_on_the_list_and_the_tutor_page(manager_client):
    tutor = teaching_tutor()

    listing = manager_client.get(CHANGELIST).content.decode()
    page = manager_client.get(reverse("admin:bookings_tutor_change", args=[tutor.pk])).content.decode()

    assert 'value="generate_sessions_selected"' in listing
    assert generate_url(tutor) in page


def test_it_asks_for_the_days_on_a_get_and_creates_nothing(manager_client):
    tutor = teaching_tutor()

    response = manager_client.get(generate_url(tutor))

    assert response.status_code == 200
    assert response.templates[0].name == "admin/bookings/tutor/generate_sessions.html"
    assert response.context["form"]["days"].value() == 14
    html = response.content.decode()
    assert 'method="post"' in html and "csrfmiddlewaretoken" in html
    assert not Session.objects.exists()


def test_it_generates_for_the_tutor_on_the_forms_post(manager_client):
    tutor = teaching_tutor()

    response = manager_client.post(generate_url(tutor), {"confirm": "yes", "days": "7"}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:bookings_tutor_change", args=[tutor.pk])
    sessions = Session.objects.filter(tutor=tutor)
    assert sessions.count() == 3
    assert set(sessions.values_list("source", flat=True)) == {SessionSource.AVAILABILITY}
    assert any(f"{tutor}: 3 created over 7 days" in m for m in shown(response))


def test_it_refuses_a_number_of_days_out_of_range_and_creates_nothing(manager_client):
    tutor = teaching_tutor()

    for days in ("0", "91", "many"):
        response = manager_client.post(generate_url(tutor), {"confirm": "yes", "days": days})
        assert response.status_code == 200
        assert response.context["form"].errors["days"]

    assert not Session.objects.exists()


def test_it_generates_for_the_selected_tutors_after_asking(client):
    client.force_login(OperatorFactory())  # operators may add sessions
    first, second, other = teaching_tutor(), teaching_tutor(), teaching_tutor()
    selected = {"action": "generate_sessions_selected", "_selected_action": [first.pk, second.pk]}

    asked = client.post(CHANGELIST, selected)
    assert asked.status_code == 200
    assert {tutor for tutor, _ in asked.context["rows"]} == {first, second}
    assert not Session.objects.exists()

    done = client.post(CHANGELIST, {**selected, "confirm": "yes", "days": "14"}, follow=True)

    assert done.redirect_chain[-1][0].endswith(CHANGELIST)
    assert {t: Session.objects.filter(tutor=t).count() for t in (first, second, other)} == {
        first: 6,
        second: 6,
        other: 0,
    }
    messages = shown(done)
    assert any(f"{first}: 6 created" in m for m in messages)
    assert any(f"{second}: 6 created" in m for m in messages)


def test_it_reports_what_it_skipped_when_run_again(manager_client):
    tutor = teaching_tutor()
    DateException.objects.create(tutor=tutor, date=datetime(2025, 6, 9).date())
    manager_client.post(generate_url(tutor), {"confirm": "yes", "days": "14"})

    again = manager_client.post(generate_url(tutor), {"confirm": "yes", "days": "14"}, follow=True)

    assert Session.objects.filter(tutor=tutor).count() == 3
    assert any("0 created" in m and "3 already scheduled" in m and "3 during time off" in m for m in shown(again))


def test_it_refuses_someone_who_may_not_add_sessions(client):
    tutor = teaching_tutor()
    viewer = with_permissions(tutor.user, "view_tutor")  # a tutor allowed to see their own settings
    client.force_login(viewer)

    assert client.get(generate_url(tutor)).status_code == 403
    assert client.post(generate_url(tutor), {"confirm": "yes", "days": "7"}).status_code == 403
    assert 'value="generate_sessions_selected"' not in client.get(CHANGELIST).content.decode()
    client.post(CHANGELIST, {"action": "generate_sessions_selected", "_selected_action": [tutor.pk]})
    assert not Session.objects.exists()


def test_a_tutor_cannot_generate_for_another_tutor(client):
    mine, theirs = teaching_tutor(), teaching_tutor()
    client.force_login(with_permissions(mine.user, "view_tutor", "add_session"))

    assert client.get(generate_url(theirs)).status_code == 404
    assert client.post(generate_url(theirs), {"confirm": "yes", "days": "7"}).status_code == 404
    client.post(
        CHANGELIST,
        {"action": "generate_sessions_selected", "_selected_action": [theirs.pk], "confirm": "yes", "days": "7"},
    )
    assert not Session.objects.filter(tutor=theirs).exists()

    client.post(generate_url(mine), {"confirm": "yes", "days": "7"})
    assert Session.objects.filter(tutor=mine).count() == 3


def test_it_edits_each_availability_windows_product_inline(manager_client):
    tutor = teaching_tutor()
    url = reverse("admin:bookings_tutor_change", args=[tutor.pk])

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            html = manager_client.get(url).content.decode()
        assert 'name="availability-0-product"' in html
        return len(queries)

    manager_client.get(url)  # warm the session and content-type caches
    one_window = page_queries()
    for weekday in range(1, 6):
        Availability.objects.create(
            tutor=tutor, product=LessonFactory(), weekday=weekday, start_time=time(9), end_time=time(12)
        )
    assert page_queries() == one_window  # the product choices are read once for all rows


def test_it_lists_availability_with_its_product(manager_client):
    tutor = teaching_tutor()
    product = Availability.objects.get(tutor=tutor).product

    html = manager_client.get(reverse("admin:bookings_availability_changelist")).content.decode()

    assert product.name in html
