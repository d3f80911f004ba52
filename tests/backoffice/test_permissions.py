"""What each role may open and change in the back office.

Operators run the desk (bookings, payments, sessions) but delete nothing and manage no staff;
managers run everything; a tutor sees their own sessions, bookings, results, feedback and
availability only, and another tutor's rows do not exist for them (404 or 403, never the page).
"""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Role, User
from bookings import services
from bookings.models import (
    Availability,
    Booking,
    BookingEvent,
    BookingStatus,
    CancelReason,
    DateException,
    FeedbackRequest,
    Product,
    Session,
    TestResult,
)
from realtime.models import Notification
from tests.factories import (
    FeedbackRequestFactory,
    LessonFactory,
    ManagerFactory,
    OperatorFactory,
    ResultFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    booking_in,
)

pytestmark = pytest.mark.django_db

OK, DENIED = 200, 403
# Changelist answers per role: (operator, manager, tutor). A superuser opens every one.
CHANGELISTS = {
    "bookings.Product": (OK, OK, DENIED),
    "bookings.Tutor": (OK, OK, DENIED),
    "bookings.Availability": (OK, OK, OK),
    "bookings.DateException": (OK, OK, OK),
    "bookings.Session": (OK, OK, OK),
    "bookings.Booking": (OK, OK, OK),
    "bookings.BookingEvent": (OK, OK, OK),
    "bookings.Payment": (OK, OK, DENIED),
    "bookings.Reminder": (OK, OK, DENIED),
    "bookings.TestResult": (OK, OK, OK),
    "bookings.FeedbackRequest": (OK, OK, OK),
    "backoffice.User": (DENIED, OK, DENIED),  # every account, staff too: managers only (issue 14)
    "backoffice.Student": (OK, OK, DENIED),
    "backoffice.Staff": (DENIED, OK, DENIED),
    "auth.Group": (DENIED, OK, DENIED),
    "realtime.Notification": (OK, OK, OK),
    "django_q.Success": (DENIED, OK, DENIED),
    "django_q.Failure": (DENIED, OK, DENIED),
    "django_q.Schedule": (DENIED, OK, DENIED),
    "django_q.OrmQ": (DENIED, OK, DENIED),
}
if settings.Q_CLUSTER.get("redis"):
    del CHANGELISTS["django_q.OrmQ"]  # the queue's table exists on the ORM broker only
ROLES = ("operator", "manager", "tutor")


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def tutor_world(tutor) -> dict:
    """One of everything a tutor owns."""
    lesson = SessionFactory(product=LessonFactory(), tutor=tutor, capacity=3)
    booking = services.book(session=lesson, student=StudentFactory())
    earlier = SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=lesson.starts_at - timedelta(days=1))
    done = booking_in(BookingStatus.COMPLETED, session=earlier)
    return {
        "session": lesson,
        "booking": booking,
        "result": ResultFactory(booking=done),
        "feedback": FeedbackRequestFactory(tutor=tutor, booking=booking, student=booking.student),
        "availability": Availability.objects.create(
            tutor=tutor, product=lesson.product, weekday=0, start_time=time(9), end_time=time(12)
        ),
        "dateexception": DateException.objects.create(tutor=tutor, date=timezone.localdate() + timedelta(days=9)),
        "notification": Notification.objects.create(recipient=tutor.user, type="booking.created", title="Mine"),
    }


@pytest.fixture
def world(db):
    aziza, james = TutorFactory(), TutorFactory()
    exam = SessionFactory()
    paid = services.book(session=exam, student=StudentFactory(), payment_method="cash")
    payment = services.record_payment(paid, provider="cash", amount=paid.price)
    cancelled = services.cancel(services.book(session=exam, student=StudentFactory()), reason=CancelReason.STAFF)
    return {
        "aziza": aziza,
        "james": james,
        "mine": tutor_world(aziza),
        "theirs": tutor_world(james),
        "exam": exam,
        "payment": payment,
        "cancelled": cancelled,
        "operator": OperatorFactory(),
        "manager": ManagerFactory(),
    }


def logged_in(client, user):
    client.force_login(user)
    return client


def person(world, role: str) -> User:
    return world["aziza"].user if role == "tutor" else world[role]


# --- Which pages open ------------------------------------------------------------------------


@pytest.mark.parametrize("label", CHANGELISTS)
def test_each_role_opens_exactly_its_lists(client, admin_user, world, label):
    changelist = url(apps.get_model(label), "changelist")

    answers = {}
    for role in ROLES:
        answers[role] = logged_in(client, person(world, role)).get(changelist).status_code
    answers["superuser"] = logged_in(client, admin_user).get(changelist).status_code

    assert answers == {**dict(zip(ROLES, CHANGELISTS[label], strict=True)), "superuser": OK}


# --- Operators: the desk, without deletes or staff ---------------------------------------------


def test_an_operator_may_delete_nothing(client, world):
    client = logged_in(client, world["operator"])
    mine = world["mine"]
    objects = [
        world["exam"].product,
        world["exam"],
        world["cancelled"],
        world["payment"],
        mine["result"],
        mine["feedback"],
        mine["availability"],
        mine["dateexception"],
        world["cancelled"].student,
        Notification.objects.create(recipient=world["operator"], type="booking.created", title="Op's"),
    ]
    for obj in objects:
        assert client.get(url(type(obj), "delete", obj.pk)).status_code == DENIED, type(obj).__name__
    for model in (Session, Booking, Product, User):
        html = client.get(url(model, "changelist")).content.decode()
        assert 'value="delete_selected"' not in html, model.__name__
    assert Product.objects.filter(pk=world["exam"].product_id).exists()


def test_an_operator_cannot_change_a_staff_member(client, world):
    manager = world["manager"]
    client = logged_in(client, world["operator"])

    response = client.post(
        url(User, "change", manager.pk),
        {"username": manager.username, "first_name": "Hacked", "role": Role.STUDENT, "is_active": ""},
    )

    assert response.status_code == DENIED
    manager.refresh_from_db()
    assert (manager.first_name, manager.role, manager.is_active) != ("Hacked", Role.STUDENT, False)
    assert manager.role == Role.MANAGER


def test_an_operator_cannot_add_a_staff_member(client, world):
    client = logged_in(client, world["operator"])

    response = client.post(
        url(User, "add"),
        {
            "first_name": "New",
            "last_name": "Operator",
            "phone": "+998901112233",
            "role": Role.OPERATOR,
            "username": "newop",
            "usable_password": "true",
            "password1": "a-long-pass-phrase-1",
            "password2": "a-long-pass-phrase-1",
        },
    )

    assert response.status_code == DENIED  # the Users pages are managers' (issue 14)
    assert not User.objects.filter(username="newop").exists()


def test_an_operator_cannot_touch_groups(client, world):
    client = logged_in(client, world["operator"])
    group = Group.objects.get(name="Operators")

    assert client.get(url(Group, "add")).status_code == DENIED
    assert client.get(url(Group, "change", group.pk)).status_code == DENIED
    response = client.post(url(Group, "change", group.pk), {"name": "Owners", "permissions": []})
    assert response.status_code == DENIED
    group.refresh_from_db()
    assert group.name == "Operators" and group.permissions.exists()


def test_an_operator_takes_bookings_payments_and_sessions(client, world):
    client = logged_in(client, world["operator"])
    for model in (Booking, Session, apps.get_model("bookings.Payment")):
        assert client.get(url(model, "add")).status_code == OK, model.__name__


# --- Managers: everything, staff included ------------------------------------------------------


def test_a_manager_manages_staff_and_groups(client, world):
    client = logged_in(client, world["manager"])
    add_form = client.get(url(User, "add")).context["adminform"].form
    assert {Role.OPERATOR, Role.MANAGER, Role.TUTOR} <= {value for value, _ in add_form.fields["role"].choices}
    assert client.get(url(Group, "add")).status_code == OK
    assert client.get(url(User, "change", world["operator"].pk)).status_code == OK
    assert client.get(url(User, "delete", world["cancelled"].student.pk)).status_code == OK


# --- Tutors: their own rows only -------------------------------------------------------------


OWN_LISTS = {
    Session: "session",
    Booking: "booking",
    TestResult: "result",
    FeedbackRequest: "feedback",
    Availability: "availability",
    DateException: "dateexception",
    Notification: "notification",
}


@pytest.mark.parametrize("model", OWN_LISTS, ids=lambda m: m.__name__)
def test_a_tutor_lists_only_their_own_rows(client, world, model):
    client = logged_in(client, world["aziza"].user)

    response = client.get(url(model, "changelist"))

    rows = set(response.context["cl"].queryset)
    mine = world["mine"][OWN_LISTS[model]]
    theirs = world["theirs"][OWN_LISTS[model]]
    assert mine in rows
    assert theirs not in rows
    if model is Booking:
        assert rows == set(Booking.objects.filter(session__tutor=world["aziza"]))


def test_a_tutor_lists_only_the_history_of_their_own_bookings(client, world):
    client = logged_in(client, world["aziza"].user)

    events = set(client.get(url(BookingEvent, "changelist")).context["cl"].queryset)

    assert events
    assert {event.booking.session.tutor_id for event in events} == {world["aziza"].pk}


@pytest.mark.parametrize("view", ["change", "history"])
@pytest.mark.parametrize("key", ["session", "booking", "result", "feedback", "availability", "dateexception"])
def test_another_tutors_rows_do_not_open(client, world, key, view):
    client = logged_in(client, world["aziza"].user)
    theirs = world["theirs"][key]

    response = client.get(url(type(theirs), view, theirs.pk))

    assert response.status_code == 404


def test_another_persons_notification_does_not_open(client, world):
    client = logged_in(client, world["aziza"].user)
    theirs = world["theirs"]["notification"]

    assert client.get(url(Notification, "change", theirs.pk)).status_code == 404


def test_a_tutor_opens_their_own_rows(client, world):
    client = logged_in(client, world["aziza"].user)
    for key, obj in world["mine"].items():
        assert client.get(url(type(obj), "change", obj.pk)).status_code == OK, key


def test_a_tutor_cannot_open_pages_outside_their_work(client, world):
    client = logged_in(client, world["aziza"].user)
    pages = [
        url(User, "change", world["mine"]["booking"].student_id),
        url(User, "change", world["operator"].pk),
        url(type(world["payment"]), "change", world["payment"].pk),
        url(Product, "change", world["exam"].product_id),
        url(type(world["aziza"]), "change", world["aziza"].pk),  # even their own tutor settings
        url(Group, "changelist"),
        url(Session, "add"),
        url(Booking, "add"),
        url(type(world["payment"]), "add"),
    ]
    for page in pages:
        assert client.get(page).status_code == DENIED, page


def test_a_tutor_cannot_delete_sessions_or_bookings(client, world):
    client = logged_in(client, world["aziza"].user)
    mine = world["mine"]
    assert client.get(url(Session, "delete", mine["session"].pk)).status_code == DENIED
    assert client.get(url(Booking, "delete", mine["booking"].pk)).status_code == DENIED
    assert Booking.objects.filter(pk=mine["booking"].pk).exists()


def test_a_tutors_sidebar_holds_only_their_narrow_items(client, world):
    html = logged_in(client, world["aziza"].user).get(reverse("admin:index")).content.decode()

    for model in (Session, Booking, Availability, DateException, TestResult, FeedbackRequest, Notification):
        assert url(model, "changelist") in html, model.__name__
    for label in (
        "bookings.Product",
        "bookings.Tutor",
        "bookings.Payment",
        "bookings.Reminder",
        "backoffice.User",
        "backoffice.Student",
        "backoffice.Staff",
        "auth.Group",
        "django_q.Failure",
        "django_q.Schedule",
    ):
        assert url(apps.get_model(label), "changelist") not in html, label
