"""``bookings.services.writes``: a write compiled once writes what the ORM's own call writes, or refuses
to compile. The compiled statements are PostgreSQL's; on SQLite each is the ORM's call (the same tests)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from bookings import services
from bookings.models import BookingEvent, Payment, PaymentProvider, PaymentStatus, Reminder, ReminderStatus
from bookings.selectors import app_users
from bookings.selectors.compiled import CompileError
from bookings.services.reminders import cancel_pending_reminders
from bookings.services.writes import COMPILED_ROWS, CompiledUpdate, insert, save_fields
from tests.factories import StudentFactory

pytestmark = pytest.mark.django_db

HISTORY = ("booking_id", "action", "actor_id", "data", "created_at")
REMINDER = ("booking_id", "recipient_id", "channel", "kind", "scheduled_at", "status", "attempts", "last_error")


@pytest.fixture
def booking(session, student):
    return services.book(session=session, student=student)


def events(booking, count: int, *, at, note: str) -> list[BookingEvent]:
    return [
        BookingEvent(
            booking=booking, action="payment.received", data={"n": n, "note": note, "amount": "1.50"}, created_at=at
        )
        for n in range(count)
    ]


def rows(model, objs, names):
    return list(model.objects.filter(pk__in=[obj.pk for obj in objs]).order_by("pk").values_list(*names))


@pytest.mark.parametrize("count", [1, 3])  # one row: VALUES; several: PostgreSQL's UNNEST of arrays
def test_insert_writes_the_rows_bulk_create_writes_and_sets_their_keys(booking, count, django_assert_num_queries):
    at = timezone.now()
    for note in ("<b>first</b> é", "second"):  # the second call runs the SQL compiled by the first
        with django_assert_num_queries(1):
            ours = insert(events(booking, count, at=at, note=note))
        theirs = BookingEvent.objects.bulk_create(events(booking, count, at=at, note=note))

        assert all(event.pk and not event._state.adding and event._state.db == "default" for event in ours)
        assert [event.pk for event in ours] == sorted(event.pk for event in ours)  # each row its own key, in order
        assert rows(BookingEvent, ours, HISTORY) == rows(BookingEvent, theirs, HISTORY)
        assert BookingEvent.objects.get(pk=ours[-1].pk).data == {"n": count - 1, "note": note, "amount": "1.50"}


def test_insert_sets_an_auto_now_add_time_as_save_does(booking, student):
    before = timezone.now()
    made = [
        Reminder(booking=booking, recipient=student, channel="sms", kind=kind, scheduled_at=before + timedelta(days=1))
        for kind in ("24h", "1h")
    ]

    insert(made)

    stored = Reminder.objects.filter(pk__in=[reminder.pk for reminder in made]).order_by("pk")
    assert [reminder.created_at for reminder in made] == [reminder.created_at for reminder in stored]
    assert all(reminder.created_at >= before for reminder in made)
    assert rows(Reminder, made, REMINDER)[0][5:] == ("pending", 0, "")  # the fields' defaults


def test_insert_leaves_a_row_with_an_expression_to_bulk_create(booking):
    made = insert([BookingEvent(booking=booking, action="payment.received", data={}, created_at=Now())])

    assert BookingEvent.objects.get(pk=made[0].pk).created_at <= timezone.now()


def test_insert_of_many_rows_is_bulk_creates(booking):
    made = insert(events(booking, COMPILED_ROWS + 1, at=timezone.now(), note="sweep"))

    assert len({event.pk for event in made}) == COMPILED_ROWS + 1
    assert BookingEvent.objects.filter(booking=booking, data__note="sweep").count() == COMPILED_ROWS + 1


def test_insert_of_nothing_writes_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert insert([]) == []


# --- UPDATE --------------------------------------------------------------------------------------------

rename = CompiledUpdate(lambda pk, kind: (Reminder.objects.filter(pk=pk, status="pending"), {"kind": kind}), int, str)


TOMORROW = timezone.now().replace(microsecond=0) + timedelta(days=1)


def reminder(booking, student, **fields) -> Reminder:
    return Reminder.objects.create(booking=booking, recipient=student, channel="sms", scheduled_at=TOMORROW, **fields)


def test_a_compiled_update_writes_what_update_writes_and_counts_the_rows(booking, student, django_assert_num_queries):
    ours, theirs, sent = (
        reminder(booking, student),
        reminder(booking, student),
        reminder(booking, student, status="sent"),
    )

    for kind in ("24h", "payment"):
        with django_assert_num_queries(1):
            assert rename(ours.pk, kind) == 1
        assert Reminder.objects.filter(pk=theirs.pk, status="pending").update(kind=kind) == 1
        assert rows(Reminder, [ours], REMINDER)[0][1:] == rows(Reminder, [theirs], REMINDER)[0][1:]
    assert rename(sent.pk, "1h") == 0  # its filter still applies
    assert rename(0, "1h") == 0
    assert Reminder.objects.get(pk=sent.pk).kind == "before_start"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("build", "why"),
    [
        (lambda pk, n: (Reminder.objects.filter(pk=pk), {"attempts": n + 1}), "none of them"),
        (lambda pk, n: (Reminder.objects.filter(pk=pk), {"last_error": f"try {n}"}), "none of them"),
        (lambda pk, n: (Reminder.objects.filter(pk=pk), {"attempts": 0}), "do not reach"),
        (lambda pk, n: (Reminder.objects.filter(pk=pk), {"attempts": F("attempts") + n}), None),
    ],
)
def test_an_update_whose_values_do_not_map_onto_its_parameters_refuses_to_compile(booking, student, build, why):
    target = reminder(booking, student)
    update = CompiledUpdate(build, int, int)
    if why is None:  # an expression of a value is still that value, as a parameter
        assert update(target.pk, 2) == 1
        assert Reminder.objects.get(pk=target.pk).attempts == 2
        return
    with pytest.raises(CompileError, match=why):
        update(target.pk, 2)
    assert rows(Reminder, [target], REMINDER)[0][6] == 0  # nothing written


def test_a_compiled_update_takes_the_kinds_it_was_given():
    with pytest.raises(TypeError, match="CompiledUpdate takes values of"):
        CompiledUpdate(lambda amount: (Payment.objects.all(), {"amount": amount}), Decimal)
    with pytest.raises(TypeError, match="takes 2 values, not 1"):
        rename(1)


def payment(booking, txn: str) -> Payment:
    return Payment.objects.create(
        booking=booking,
        provider=PaymentProvider.PAYME,
        amount=Decimal("350000"),
        currency="UZS",
        status=PaymentStatus.PENDING,
        provider_txn_id=txn,
        created_at=timezone.now(),
    )


PAID = ("status", "performed_at", "provider_state", "perform_time", "provider_reason")


def test_save_fields_writes_what_save_with_update_fields_writes(booking, django_assert_num_queries):
    ours, theirs = payment(booking, "a" * 24), payment(booking, "b" * 24)
    now = timezone.now()
    for one in (ours, theirs):
        one.status, one.performed_at, one.provider_state, one.perform_time = (
            PaymentStatus.PAID,
            now,
            2,
            1_700_000_000_000,
        )
        one.amount = Decimal("1")  # not among the fields saved: not written

    with django_assert_num_queries(1):
        save_fields(ours, ["status", "performed_at", "provider_state", "perform_time"])
    theirs.save(update_fields=["status", "performed_at", "provider_state", "perform_time"])

    assert rows(Payment, [ours], PAID) == rows(Payment, [theirs], PAID)
    assert rows(Payment, [ours], ("amount",)) == [(Decimal("350000"),)]


def test_save_fields_saves_a_none_as_save_does_and_refuses_a_row_that_is_gone(booking):
    one = payment(booking, "c" * 24)
    one.provider_reason, one.provider_state = 5, None  # None: not a kind a compiled statement takes

    save_fields(one, ["provider_reason", "provider_state"])

    assert rows(Payment, [one], ("provider_reason", "provider_state")) == [(5, None)]
    Payment.objects.filter(pk=one.pk).delete()
    one.provider_state = 1
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        save_fields(one, ["provider_state"])


# --- Where the callbacks use them ---------------------------------------------------------------------


def test_one_bookings_reminders_are_cancelled_as_many_bookings_are(session, django_assert_num_queries):
    made = [services.book(session=session, student=StudentFactory()) for _ in range(3)]
    for booking in made:
        for status, kind, retry in (
            ("pending", "payment", None),
            ("pending", "24h", None),
            ("failed", "payment", timezone.now()),
            ("failed", "payment", None),
            ("sent", "payment", None),
        ):
            reminder(booking, booking.student, status=status, kind=kind, next_attempt_at=retry)

    with django_assert_num_queries(1):
        assert cancel_pending_reminders([made[0].pk], kind="payment") == 2  # compiled: one booking
    assert cancel_pending_reminders([made[1].pk, 0], kind="payment") == 2  # the ORM's: a list
    assert cancel_pending_reminders([made[2].pk]) == 3

    def statuses(booking):
        return sorted(booking.reminders.values_list("kind", "status", "next_attempt_at"))

    assert statuses(made[0]) == statuses(made[1])
    assert [status for _, status, _ in statuses(made[0])] == ["pending", "cancelled", "cancelled", "failed", "sent"]
    assert all(status in ("cancelled", "sent", "failed") for _, status, _ in statuses(made[2]))
    assert ReminderStatus.CANCELLED in {status for _, status, _ in statuses(made[2])}


def test_app_users_of_one_person_is_what_it_is_of_many(django_assert_num_queries):
    app, other = StudentFactory(), StudentFactory()
    RefreshToken.for_user(app)
    RefreshToken.for_user(app)  # two tokens, one person

    with django_assert_num_queries(1):
        assert app_users([app.pk]) == {app.pk}
    assert app_users([other.pk]) == set()
    assert app_users([app.pk, other.pk, None]) == {app.pk}
    with django_assert_num_queries(0):
        assert app_users([None]) == set()
