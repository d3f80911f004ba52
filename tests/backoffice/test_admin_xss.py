"""No text a person typed runs as script anywhere in the back office (issue 12).

Every free-text column of every model -- derived from the models, so a new one is covered the day
it is added -- holds markup, as a manager, an import, a student through the API or a payment
provider could have put it there. Then every admin page is opened as a manager and as a tutor:
lists (also searched for the markup), add and change pages, history and delete confirmations,
every custom page of a booking, session, tutor, feedback request and reminder, the bulk action
pages, the calendar, the dashboard, the workspace and an import preview of a file full of markup.
The markup may appear only escaped.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone

from bookings import services
from bookings.imports import KINDS
from bookings.models import (
    BookingStatus,
    CancelReason,
    DateException,
    FeedbackRequest,
    ImportRecord,
    ImportStatus,
    PaymentLog,
    Reminder,
    Session,
)
from realtime.models import Notification
from tests.factories import (
    LessonFactory,
    ManagerFactory,
    ProductFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    booking_in,
)

pytestmark = pytest.mark.django_db

MARKUP = '<script>alert("x1")</script><img src=x onerror=alert(1)>'
SHORT = "<img src=x onerror=alert(1)>"  # for a column too narrow for MARKUP (a provider's 32-character id)
RAW = ('<script>alert("x1")', SHORT)
ESCAPED = "&lt;script&gt;alert(&quot;x1&quot;)&lt;/script&gt;"

# Text columns that cannot hold markup typed by a person: validated formats (username, e-mail,
# phone, product code, currency), or written and parsed by the system itself (a time zone, the
# calendar token, a booking reference, event and reminder names, notification types).
NOT_FREE_TEXT = {
    "password",
    "username",
    "email",
    "phone",
    "code",
    "currency",
    "timezone",
    "calendar_token",
    "reference",
    "action",
    "kind",
    "type",
}
# Pages that are not HTML, or that end the session.
SKIPPED_URL_NAMES = {"logout", "jsi18n", "autocomplete", "view_on_site", "bookings_importrecord_file"}
SKIPPED_URL_SUFFIXES = ("_import_template", "_password_change", "password_change", "password_change_done")


def free_text_fields() -> Iterator[tuple[type[models.Model], str]]:
    """Every free-text column of the project's own models (proxies share their concrete model's)."""
    for model in apps.get_models():
        if model._meta.app_label not in ("backoffice", "bookings", "realtime") or model._meta.proxy:
            continue
        for field in model._meta.concrete_fields:
            text = isinstance(field, models.CharField | models.TextField) and not field.choices
            if text and field.name not in NOT_FREE_TEXT:
                yield model, field.name


@pytest.fixture
def marked():
    """A little of everything, then markup in every free-text column of every row."""
    tutor = TutorFactory()
    manager = ManagerFactory()
    exam = SessionFactory(product=ProductFactory(), capacity=10)
    SessionFactory(product=exam.product, starts_at=exam.starts_at + timedelta(days=1))  # to reschedule to
    lesson = SessionFactory(product=LessonFactory(), tutor=tutor, capacity=3)
    pending = services.book(session=exam, student=StudentFactory(), actor=manager)
    paid = services.book(session=lesson, student=StudentFactory(), actor=manager, payment_method="click")
    services.record_payment(paid, provider="click", amount=paid.price, provider_txn_id=MARKUP)
    cancelled = services.book(session=exam, student=StudentFactory(), actor=manager)
    services.cancel(cancelled, reason=CancelReason.STAFF, note=MARKUP, actor=manager)
    sat = booking_in(
        BookingStatus.CONFIRMED,
        session=SessionFactory(product=exam.product, tutor=tutor, starts_at=exam.starts_at + timedelta(days=2)),
    )
    Session.objects.filter(pk=sat.session_id).update(
        starts_at=timezone.now() - timedelta(hours=4), ends_at=timezone.now() - timedelta(hours=1)
    )
    later = exam.starts_at + timedelta(days=3)
    done = booking_in(BookingStatus.COMPLETED, session=SessionFactory(product=exam.product, starts_at=later))
    with time_machine.travel(done.session.starts_at + timedelta(hours=4)):
        services.record_result(done, scores={"listening": 7, "reading": 7, "writing": 6, "speaking": 6})
    FeedbackRequest.objects.create(student=paid.student, tutor=tutor, booking=paid, submission="An essay.")
    FeedbackRequest.objects.create(student=pending.student, submission="Unassigned.")
    DateException.objects.create(tutor=tutor, date=timezone.localdate() + timedelta(days=10))
    ImportRecord.objects.create(
        kind="students",
        filename="term.csv",
        status=ImportStatus.FAILED,
        created_by=manager,
        invalid=1,
        errors=[{"line": 2, "column": MARKUP, "message": MARKUP}],
    )
    for user in (manager, tutor.user):
        Notification.objects.create(recipient=user, type="booking.created", title="x", message="x")
    Group.objects.create(name=MARKUP)
    # Written by the payment callbacks: what a provider (or anyone calling them) sent.
    PaymentLog.objects.create(provider="click", action="prepare", payment=paid.payments.first())

    filled = []
    for model, name in free_text_fields():
        width = model._meta.get_field(name).max_length or len(MARKUP)
        if model.objects.update(**{name: MARKUP if width >= len(MARKUP) else SHORT}):
            filled.append(f"{model._meta.label}.{name}")
    Reminder.objects.update(last_error=MARKUP)
    return {"manager": manager, "tutor": tutor, "filled": filled}


def test_every_free_text_column_holds_the_markup(marked):
    """The sweep below means something only if every column it knows of was filled."""
    assert sorted(marked["filled"]) == sorted(f"{model._meta.label}.{name}" for model, name in free_text_fields())
    assert "bookings.Product.name" in marked["filled"] and "backoffice.User.first_name" in marked["filled"]


def admin_paths() -> Iterator[tuple[str, str | None, bool]]:
    """(route, name, takes an object id) of every admin page."""

    def walk(patterns: list, prefix: str) -> Iterator[tuple[str, str | None, bool]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern.name, "<path:object_id>" in str(pattern.pattern)

    yield from walk(admin.site.get_urls(), "")


def pages_for(client: Client) -> Iterator[str]:
    """Every admin URL, with each object's id where the page takes one."""
    base = reverse("admin:index")
    for route, name, per_object in admin_paths():
        if (
            name in SKIPPED_URL_NAMES
            or (name or "").endswith(SKIPPED_URL_SUFFIXES)
            or "<" in route.replace("<path:object_id>", "")
        ):
            continue
        if route.startswith("^") or route.startswith("(?P"):
            continue  # the app index regex and the catch-all
        if not per_object:
            yield base + route
            continue
        model_admin = model_admin_of(route)
        if model_admin is None:
            continue
        for pk in model_admin.model._default_manager.values_list("pk", flat=True)[:5]:
            yield base + route.replace("<path:object_id>", str(pk))


def model_admin_of(route: str):
    match = re.match(r"(\w+)/(\w+)/", route)
    if not match:
        return None
    for model, model_admin in admin.site._registry.items():
        if (model._meta.app_label, model._meta.model_name) == match.groups():
            return model_admin
    return None


def assert_escaped(response, where: str) -> str:
    assert response.status_code < 500, f"{where} answered {response.status_code}"
    if "html" not in response.get("Content-Type", ""):
        return ""
    html = response.content.decode()
    for raw in RAW:
        position = html.find(raw)
        assert position == -1, f"{where} shows {raw!r} unescaped: …{html[max(position - 300, 0) : position + 80]}…"
    return html


def sweep(client: Client) -> list[str]:
    """Open every page (and every list searched for the markup); the HTML of each."""
    pages = []
    for url in pages_for(client):
        pages.append(assert_escaped(client.get(url, follow=True), url))
    for model in admin.site._registry:
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        pages.append(assert_escaped(client.get(changelist, {"q": MARKUP}, follow=True), f"{changelist}?q="))
    for view in ("month", "week", "day"):
        for by in ("tutor", "room"):
            url = reverse("admin:bookings_session_calendar")
            pages.append(assert_escaped(client.get(url, {"view": view, "by": by}), f"calendar {view} by {by}"))
    return pages


def test_a_manager_sees_the_markup_escaped_on_every_page(client, marked):
    client.force_login(marked["manager"])

    pages = sweep(client)

    assert sum(ESCAPED in html for html in pages) > 50  # the markup was on the pages, escaped


def test_a_manager_sees_the_markup_escaped_on_every_bulk_action_page(client, marked):
    client.force_login(marked["manager"])
    checked = 0
    for model, model_admin in admin.site._registry.items():
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        request = client.get(changelist).wsgi_request
        ids = [str(pk) for pk in model._default_manager.values_list("pk", flat=True)[:5]]
        if not ids:
            continue
        for action in model_admin.get_actions(request):
            response = client.post(changelist, {"action": action, "_selected_action": ids, "index": 0}, follow=True)
            assert_escaped(response, f"{changelist} action {action}")
            checked += 1

    assert checked > 15


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_import_preview_of_a_file_full_of_markup_shows_it_escaped(client, marked, kind):
    client.force_login(marked["manager"])
    buffer = io.StringIO()
    columns = [column.name for column in KINDS[kind].columns]
    csv.writer(buffer).writerows([columns, [MARKUP] * len(columns), [MARKUP] * len(columns)])
    admin_name = {
        "sessions": "bookings_session",
        "students": "backoffice_student",
        "bookings": "bookings_booking",
        "results": "bookings_testresult",
    }[kind]

    response = client.post(
        reverse(f"admin:{admin_name}_import"),
        {"import_file": SimpleUploadedFile(f"{MARKUP}.csv", buffer.getvalue().encode())},
    )

    html = assert_escaped(response, f"{kind} import preview")
    assert ESCAPED in html


def test_a_tutor_sees_the_markup_escaped_in_the_workspace_and_their_pages(client, marked):
    client.force_login(marked["tutor"].user)

    workspace = assert_escaped(client.get(reverse("admin:index")), "workspace")
    pages = sweep(client)

    assert ESCAPED in workspace
    assert sum(ESCAPED in html for html in pages) > 5
