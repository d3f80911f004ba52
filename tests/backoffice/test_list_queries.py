"""Every list page costs the same number of queries with 30 rows as with 3.

The rows of each page point at distinct related objects (students, tutors, sessions, bookings),
so a per-row lookup of any of them would add queries on the second count.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta
from itertools import count

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import SignedPackage

from bookings import services
from bookings.models import Availability, Booking, DateException, ImportRecord, PaymentLog, Reminder
from bookings.services.feedback import request_feedback
from realtime.models import Notification
from tests.factories import (
    LessonFactory,
    ManagerFactory,
    OperatorFactory,
    ProductFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    UserFactory,
    confirmed_booking,
)

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)
_serial = count()


def _starts_at(i: int):
    return timezone.now().replace(microsecond=0) + timedelta(days=3, hours=i)


def _booking(i: int) -> Booking:
    """A pending booking of a new student in a new session, every other one with its own tutor."""
    session = SessionFactory(tutor=TutorFactory() if i % 2 else None, starts_at=_starts_at(i))
    return services.book(session=session, student=StudentFactory(), actor=OperatorFactory())


def _payment(i: int) -> None:
    booking = _booking(i)
    services.record_payment(
        booking, provider="click", amount=booking.price, actor=OperatorFactory(), provider_txn_id=f"T-{next(_serial)}"
    )


def _payment_log(i: int) -> None:
    """A provider's call about a payment of its own, and one refused before any payment was found."""
    booking = _booking(i)
    payment = services.record_payment(
        booking, provider="payme", amount=booking.price, provider_txn_id=f"P-{next(_serial)}"
    )
    PaymentLog.objects.create(
        provider="payme", action="PerformTransaction", payment=payment, booking_reference=booking.reference
    )
    PaymentLog.objects.create(provider="click", action="prepare", error=-1, booking_reference=booking.reference)


def _result(i: int) -> None:
    booking = confirmed_booking(session=SessionFactory(tutor=TutorFactory(), starts_at=_starts_at(i)))
    with time_machine.travel(booking.session.starts_at + timedelta(hours=4)):  # results come after the sitting
        services.record_result(
            booking, scores={"listening": 7, "reading": "6.5", "writing": 6, "speaking": "6.5"}, actor=OperatorFactory()
        )


def _feedback(i: int) -> None:
    student = StudentFactory()
    booking = services.book(session=SessionFactory(starts_at=_starts_at(i)), student=student) if i % 2 else None
    request_feedback(student=student, submission="An essay.", booking=booking, tutor=TutorFactory())


def _reminder(i: int) -> None:
    booking = _booking(i)
    Reminder.objects.create(
        booking=booking, recipient=booking.student, channel="email", scheduled_at=booking.session.starts_at
    )


def _task(success: bool) -> Callable[[int], None]:
    def build(i: int) -> None:
        now = timezone.now()
        Task.objects.create(
            id=f"task{next(_serial)}",
            name=f"task-{i}",
            func="bookings.tasks.send_due_reminders",
            group=f"group-{i}",
            cluster=f"cluster-{i}",
            started=now,
            stopped=now + timedelta(seconds=1),
            result=None if success else "Boom",
            success=success,
        )

    return build


def _queued(i: int) -> None:
    payload = SignedPackage.dumps({"id": f"q{i}", "name": f"queued-{i}", "func": "math.floor", "args": (1.5,)})
    OrmQ.objects.create(key=f"cluster-{i}", payload=payload, lock=None)


def _import_record(i: int) -> None:
    """A finished import by a different person each, with a row error kept."""
    ImportRecord.objects.create(
        kind=("sessions", "students", "bookings", "results")[i % 4],
        filename=f"term-{i}.csv",
        status="done" if i % 2 else "failed",
        created_by=OperatorFactory(),
        total=3,
        new=2,
        invalid=1,
        errors=[{"line": 3, "column": "phone", "message": "not a phone"}],
        finished_at=timezone.now(),
    )


def _session(i: int) -> None:
    session = SessionFactory(product=ProductFactory(), tutor=TutorFactory(), starts_at=_starts_at(i), capacity=2)
    services.book(session=session, student=StudentFactory())


def _access(model: type) -> Callable[[int], None]:
    """A django-axes record of a failed or successful login, each for another name and address."""

    def build(i: int) -> None:
        fields = {"username": f"login-{i}", "ip_address": f"10.0.0.{i + 1}", "user_agent": "pytest", "path_info": "/"}
        if model is AccessAttempt:
            fields.update(get_data="", post_data="", failures_since_start=i % 7)
        model.objects.create(**fields)

    return build


STAFF_FACTORIES = (OperatorFactory, ManagerFactory, lambda: TutorFactory().user)

BUILDERS: dict[str, Callable[[int], object]] = {
    "auth.Group": lambda i: Group.objects.create(name=f"group-{next(_serial)}"),
    "axes.AccessAttempt": _access(AccessAttempt),
    "axes.AccessFailureLog": _access(AccessFailureLog),
    "axes.AccessLog": _access(AccessLog),
    "backoffice.Staff": lambda i: STAFF_FACTORIES[i % 3](),
    "backoffice.Student": lambda i: StudentFactory(),
    "backoffice.User": lambda i: (UserFactory, *STAFF_FACTORIES)[i % 4](),
    "bookings.Availability": lambda i: Availability.objects.create(
        tutor=TutorFactory(), product=LessonFactory(), weekday=i % 7, start_time=time(9), end_time=time(17)
    ),
    "bookings.Booking": _booking,
    "bookings.BookingEvent": _booking,  # one booking.created event each
    "bookings.DateException": lambda i: DateException.objects.create(
        tutor=TutorFactory(), date=timezone.localdate() + timedelta(days=10 + i)
    ),
    "bookings.FeedbackRequest": _feedback,
    "bookings.ImportRecord": _import_record,
    "bookings.Payment": _payment,
    "bookings.PaymentLog": _payment_log,
    "bookings.Product": lambda i: ProductFactory(),
    "bookings.Reminder": _reminder,
    "bookings.Session": _session,
    "bookings.TestResult": _result,
    "bookings.Tutor": lambda i: TutorFactory(),
    "django_q.Failure": _task(success=False),
    "django_q.OrmQ": _queued,
    "django_q.Schedule": lambda i: Schedule.objects.create(
        name=f"schedule-{i}", func="bookings.tasks.generate_upcoming_sessions", args=str(i + 1)
    ),
    "django_q.Success": _task(success=True),
    "realtime.Notification": lambda i: Notification.objects.create(
        recipient=OperatorFactory(), type="booking.created", title=f"Booking {i}"
    ),
}


def test_every_registered_admin_has_a_builder():
    # A subset, not equality: with the Redis broker django-q2 registers no queued-tasks (OrmQ) page.
    assert {model._meta.label for model in REGISTERED} <= set(BUILDERS)


def measure(client, url: str):
    """The second of two GETs, so that both counts see the same warm caches (sidebar badges, content types)."""
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response, queries


@pytest.mark.parametrize("model", REGISTERED, ids=[model._meta.label for model in REGISTERED])
def test_it_lists_30_rows_with_the_queries_of_3(admin_client, model):
    build = BUILDERS[model._meta.label]
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for i in range(3):
        build(i)
    admin_client.get(reverse("admin:index"))
    _, with_3 = measure(admin_client, url)

    for i in range(3, 30):
        build(i)
    response, with_30 = measure(admin_client, url)

    assert len(response.context["cl"].result_list) >= 30
    assert len(with_30) == len(with_3), "\n".join(q["sql"] for q in with_30.captured_queries)
