"""Bad ids and junk filter values never break the back office.

Every admin URL pattern (the site's own, each ModelAdmin's and its custom views and actions) is
requested with ids that are not ids, and every list is requested with junk in each of its filter
parameters, as a superuser, an operator and a tutor. Nothing may answer 500: a bad id is a 404
(or Django's own redirect to the index with "does not exist"), a junk filter value is a cleared
filter with a message or Django's ``?e=1``. A NUL byte (``%00``) anywhere in a URL is a 400 for
every page at once (backoffice.nul_bytes): the ids walk it everywhere, the filters once each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.contrib.admin import FieldListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ALL_VAR, ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, reverse

from bookings import services
from bookings.models import FeedbackRequest
from tests.factories import LessonFactory, OperatorFactory, SessionFactory, StudentFactory, TutorFactory, UserFactory

pytestmark = pytest.mark.django_db

ADMIN = reverse("admin:index")
# Not an id in every way one can fail to be: letters, too big for any integer column, negative,
# a fraction, a NUL byte (PostgreSQL refuses it inside any string).
BAD_IDS = ("abc", "9" * 30, "-1", "1.5", "%00")
JUNK = ("abc", "1e999", "", "2026-13-45", "9" * 30)
# A date drill-down's year, month and day, besides: numbers no calendar has.
DATE_JUNK = ("9999", "0", "-1", "13")
# Staff with narrower rights run the same filters over their own rows: one junk value walks them.
JUNK_FOR = {"superuser": JUNK, "operator": ("abc",), "tutor": ("abc",)}
# The list's own parameters, beside its filters': those whose value is read, and those only looked
# for or checked against a fixed list (one junk value walks them).
LIST_PARAMETERS = (ORDER_VAR, PAGE_VAR, SEARCH_VAR)
PRESENCE_PARAMETERS = (ALL_VAR, "_to_field", "_popup", "_facets")
# What a bad id may be answered: never a 500, and never a 200 (a page rendered as if it was found).
ID_ANSWERS = {302, 400, 403, 404, 405}
# What junk in a list's query string may be answered: the list (the filter cleared), ?e=1, 400, 403.
LIST_ANSWERS = {200, 302, 400, 403}


def admin_routes(patterns: list, prefix: str = "") -> Iterator[str]:
    """Every route below ``patterns``, in path() syntax or, for re_path(), as its regular expression."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from admin_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def with_bad_id(route: str, bad: str) -> str:
    """The route with each of its parameters replaced by ``bad`` (already URL-encoded)."""
    if "(?P<" in route:  # a regular expression: the app index and the catch-all
        route = re.sub(r"\(\?P<\w+>[^)]*\)", bad, route).lstrip("^").rstrip("$")
        return ADMIN + route.replace("\\", "")
    return ADMIN + re.sub(r"<(?:\w+:)?\w+>", bad, route)


def routes_with_parameters() -> list[str]:
    return sorted({route for route in admin_routes(admin.site.get_urls()) if "<" in route})


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def junk_for(parameter: str, role: str) -> tuple[str, ...]:
    # Django reads any value of an ``__isnull`` lookup as true or false ("", "0", "false" or not):
    # one junk value walks it.
    return JUNK_FOR[role][:1] if parameter.endswith("__isnull") else JUNK_FOR[role]


def filter_parameters(model_admin, user) -> list[str]:
    """What each of the list's filters reads from the query string: its ``list_filter`` built the way
    the changelist builds it (whether or not a filter has choices to show today), the date
    drill-down's parameters and the list's own."""
    request, names = _request(user), []
    for list_filter in model_admin.get_list_filter(request):
        if callable(list_filter):  # a SimpleListFilter
            spec = list_filter(request, {}, model_admin.model, model_admin)
        else:
            path, filter_class = list_filter if isinstance(list_filter, tuple | list) else (list_filter, None)
            field = get_fields_from_path(model_admin.model, path)[-1]
            spec = (filter_class or FieldListFilter.create)(
                field, request, {}, model_admin.model, model_admin, field_path=path
            )
        names += spec.expected_parameters()
    if model_admin.date_hierarchy:
        names += [f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")]
    return sorted(set(names) | set(LIST_PARAMETERS))


@pytest.fixture
def centre(db):
    """A row of each kind a filter lists choices from: a tutor's lesson, an exam, bookings, feedback."""
    tutor = TutorFactory()
    lesson = SessionFactory(product=LessonFactory(), tutor=tutor)
    booking = services.book(session=lesson, student=StudentFactory())
    services.book(session=SessionFactory(), student=StudentFactory())
    FeedbackRequest.objects.create(student=booking.student, tutor=tutor, booking=booking, submission="An essay.")
    return {"tutor": tutor}


@pytest.fixture(params=["superuser", "operator", "tutor"])
def who(request, centre):
    if request.param == "superuser":
        user = UserFactory(is_superuser=True, is_staff=True)
    elif request.param == "operator":
        user = OperatorFactory()
    else:
        user = centre["tutor"].user
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client, user, request.param


def server_errors(client: Client, method: str, url: str, allowed: set[int]) -> str | None:
    response = client.get(url) if method == "GET" else client.post(url, {})
    if response.status_code not in allowed:
        return f"{method} {url} -> {response.status_code}"
    return None


def test_the_walk_reaches_the_custom_views_and_the_regex_routes():
    """Guards the walk itself: it must reach the custom views the findings were in."""
    routes = routes_with_parameters()
    assert "bookings/feedbackrequest/<path:object_id>/score/" in routes
    assert "bookings/booking/<path:object_id>/pay-cash/" in routes
    assert "bookings/session/<path:object_id>/duplicate/" in routes
    assert with_bad_id("^(?P<app_label>bookings|auth)/$", "abc") == f"{ADMIN}abc/"


# Every kind of bad id as a superuser, who reaches every view; staff with narrower rights go through
# the same lookups, so one bad id walks their routes.
@pytest.mark.parametrize(
    ("who", "bad"),
    [("superuser", bad) for bad in BAD_IDS] + [("operator", BAD_IDS[0]), ("tutor", BAD_IDS[0])],
    indirect=["who"],
)
def test_it_answers_every_admin_url_without_a_500_for_an_id_that_is_not_one(who, bad):
    client, _, _ = who
    failures = []
    for route in routes_with_parameters():
        url = with_bad_id(route, quote(bad, safe="%"))
        # A view finds its object before it looks at the method: one POST per route is enough.
        for method in ("GET", "POST") if bad == BAD_IDS[0] else ("GET",):
            if error := server_errors(client, method, url, ID_ANSWERS):
                failures.append(error)
    assert not failures, "\n".join(failures)


def test_it_answers_404_on_a_custom_action_for_an_id_that_is_not_one(admin_client):
    for url in (
        "bookings/feedbackrequest/abc/score/",
        "bookings/feedbackrequest/abc/assign/",
        "bookings/booking/abc/pay-cash/",
        "bookings/session/abc/duplicate/",
        "bookings/reminder/abc/send-again/",
    ):
        assert admin_client.get(ADMIN + url).status_code == 404, url


@pytest.mark.parametrize(("model", "model_admin"), sorted(admin.site._registry.items(), key=lambda i: i[0]._meta.label))
def test_it_answers_every_list_without_a_500_for_junk_in_each_filter(who, model, model_admin):
    client, user, role = who
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    if not model_admin.has_view_or_change_permission(_request(user)):
        assert client.get(url, {"q": "abc"}).status_code in {302, 403}
        return
    walk = [(name, value) for name in filter_parameters(model_admin, user) for value in junk_for(name, role)]
    walk += [(name, "abc") for name in PRESENCE_PARAMETERS]
    if model_admin.date_hierarchy:
        walk += [
            (f"{model_admin.date_hierarchy}__{part}", value) for part in ("year", "month", "day") for value in DATE_JUNK
        ]
    failures = []
    for name, value in walk:
        query = f"{quote(name)}={quote(value, safe='%')}"
        if error := server_errors(client, "GET", f"{url}?{query}", LIST_ANSWERS):
            failures.append(error)
    assert not failures, "\n".join(failures)


def test_it_clears_a_junk_tutor_filter_with_a_message(admin_client, centre):
    response = admin_client.get(reverse("admin:bookings_booking_changelist"), {"tutor": "abc"})

    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["“abc” is not a tutor: the tutor filter was cleared."]
    assert len(response.context["cl"].result_list) == 2  # every booking: the filter no longer applies


@pytest.mark.parametrize(
    "url",
    [
        "bookings/booking/?status__exact=%00",
        "bookings/booking/?q=%00",
        "bookings/booking/?tutor=%00",
        "bookings/session/?starts_at__year=%00",
        "django_q/success/?group=%00",
        "django_q/success/%00/change/",
        "bookings/booking/?%00=1",
    ],
)
def test_it_answers_400_to_a_nul_byte_anywhere_in_the_url(admin_client, url):
    response = admin_client.get(ADMIN + url)

    assert response.status_code == 400
    assert "NUL byte" in response.content.decode()
