"""``bookings.services.sql``: each raw statement gives what its plain ORM equivalent gives; and the payment
callbacks' compiled reads (``services.online.lock_booking``, ``read_payment``) what the plain ORM's reads give."""

from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine

from bookings.models import Product, Session, Tutor
from bookings.services import online, seats, sql
from tests.factories import LessonFactory, ProductFactory, SessionFactory, TutorFactory

pytestmark = pytest.mark.django_db


def values(instance) -> list:
    return [getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields]


def test_read_session_gives_the_orms_session_product_and_tutor_in_one_query(django_assert_num_queries):
    tutored = SessionFactory(
        product=LessonFactory(price=Decimal("120000.50")), tutor=TutorFactory(auto_confirm=True, min_notice_hours=6)
    )
    for session in (tutored, SessionFactory(product=ProductFactory(is_active=False))):
        orm = Session.objects.select_related("product", "tutor").get(pk=session.pk)
        with django_assert_num_queries(1):
            read = sql.read_session(session.pk)
            assert values(read) == values(orm)
            assert values(read.product) == values(orm.product)
            assert (read.tutor and values(read.tutor)) == (orm.tutor and values(orm.tutor))
        for ours, theirs in ((read.starts_at, orm.starts_at), (read.product.price, orm.product.price)):
            assert (type(ours), str(ours)) == (type(theirs), str(theirs))  # same types, same tz, same scale


def test_read_session_gives_instances_that_save_as_loaded_ones_do():
    session = SessionFactory(tutor=TutorFactory())
    read = sql.read_session(session.pk)
    read.room = "Hall B"
    read.save()  # an UPDATE of a row read from the database, not a second session
    read.product.save()
    read.tutor.save()
    assert (Session.objects.count(), Product.objects.count(), Tutor.objects.count()) == (1, 1, 1)
    assert Session.objects.get(pk=session.pk).room == "Hall B"


def test_read_session_refuses_an_unknown_id():
    with pytest.raises(Session.DoesNotExist):
        sql.read_session(0)


def callback_twins():
    """A pending booking with a Payme transaction started, in a session with a tutor, and its ORM reads."""
    from django.utils import timezone

    from bookings import services
    from bookings.models import Booking, Payment
    from bookings.services.online import CALLBACK_RELATED
    from tests.factories import StudentFactory

    session = SessionFactory(tutor=TutorFactory(), product=LessonFactory(price=Decimal("120000.50")))
    booking = services.book(session=session, student=StudentFactory())
    services.start_online_payment(
        booking,
        provider="payme",
        amount=booking.price,
        provider_txn_id="63a1a8a2b1c2d3e4f5a6b7c8",
        holds_until=timezone.now(),
        provider_state=1,
        provider_time=1,
        create_time=2,
    )
    bookings = Booking.objects.select_related(*CALLBACK_RELATED).select_for_update(of=("self",)).order_by()
    return booking, Payment.objects.get(), bookings


def same_booking(read, orm) -> None:
    assert values(read) == values(orm)
    assert values(read.session) == values(orm.session)
    for ours, theirs in ((read.price, orm.price), (read.created_at, orm.created_at)):
        assert (type(ours), str(ours)) == (type(theirs), str(theirs))  # same types, same tz, same scale


def test_lock_booking_gives_the_orms_callback_read_by_reference_or_by_transaction(django_assert_num_queries):
    """The callbacks' locked read of a booking and its session (``CALLBACK_RELATED``), one statement."""
    from bookings.models import Payment

    booking, payment, bookings = callback_twins()
    by_reference = bookings.filter(reference=booking.reference).get()
    payments = Payment.objects.filter(provider="payme", provider_txn_id=payment.provider_txn_id)
    by_transaction = bookings.filter(pk__in=payments.values("booking_id")).get()

    with django_assert_num_queries(2):
        same_booking(online.lock_booking(reference=booking.reference), by_reference)
        same_booking(online.lock_booking(txn=("payme", payment.provider_txn_id)), by_transaction)
    assert online.lock_booking(reference="NOSUCH1") is None
    assert online.lock_booking(txn=("click", payment.provider_txn_id)) is None  # another provider's
    with pytest.raises(TypeError):
        online.lock_booking()


def test_read_payment_gives_the_orms_payment(django_assert_num_queries):
    from bookings.models import Payment

    booking, payment, _ = callback_twins()
    txn = payment.provider_txn_id
    orm = Payment.objects.get(pk=payment.pk)
    with django_assert_num_queries(3):
        for read in (
            online.read_payment("payme", txn),
            online.read_payment("payme", txn, booking_id=booking.pk, lock=True),
            online.read_payment("payme", txn, pk=payment.pk),
        ):
            assert values(read) == values(orm)
            assert (type(read.amount), str(read.amount)) == (type(orm.amount), str(orm.amount))
    for missing in (
        online.read_payment("click", txn),
        online.read_payment("payme", txn, booking_id=booking.pk + 1),
        online.read_payment("payme", txn, pk=payment.pk + 1),
        online.read_payment("payme", "other"),
    ):
        assert missing is None


def test_the_callbacks_payment_reads_carry_what_their_booking_has_paid(django_assert_num_queries):
    """``booking_paid`` (the callbacks' ``amount_owed`` takes it) is ``paid_total`` of the payment's
    booking: nothing, then cash less a partial refund; the pending attempt itself counts for nothing."""
    from bookings import services
    from bookings.models import Payment
    from bookings.selectors import paid_total

    booking, payment, _ = callback_twins()
    txn = payment.provider_txn_id

    def reads() -> list[Decimal]:
        with django_assert_num_queries(4):  # the sum is read with the payment, not after it
            return [
                online.read_payment("payme", txn).booking_paid,
                online.read_payment("payme", txn, booking_id=booking.pk, lock=True).booking_paid,
                online.locked_payment(Payment.objects.filter(pk=payment.pk)).booking_paid,
            ]

    assert reads() == [Decimal(0)] * 3
    cash = services.record_payment(booking, provider="cash", amount=Decimal("20000.25"))
    services.refund(cash, amount=Decimal("5000"), reason="Change owed", actor=None)
    assert reads() == [paid_total(booking)] * 3 == [Decimal("15000.25")] * 3
    assert all(type(paid) is Decimal for paid in reads())


def test_the_callbacks_reads_give_instances_that_save_as_loaded_ones_do():
    from bookings.models import Booking, Payment

    booking, payment, _ = callback_twins()
    read = online.lock_booking(reference=booking.reference)
    read.needs_refund = True
    read.save(update_fields=["needs_refund"])
    read.session.room = "Hall B"
    read.session.save()
    paid = online.read_payment("payme", payment.provider_txn_id, lock=True)
    paid.provider_state = 2
    paid.save(update_fields=["provider_state"])
    assert (Booking.objects.count(), Session.objects.count(), Payment.objects.count()) == (1, 1, 1)
    assert Booking.objects.get().needs_refund and Session.objects.get().room == "Hall B"
    assert Payment.objects.get().provider_state == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_lock_booking_holds_the_bookings_row_and_not_its_sessions():
    """``FOR UPDATE OF`` the booking, as the ORM's ``select_for_update(of=("self",))``: another
    transaction cannot lock the booking until this one ends, and can lock its session."""
    from django.db import DatabaseError, connections, transaction

    from bookings.models import Booking

    booking, payment, _ = callback_twins()
    other = connections.create_connection("default")
    try:
        with transaction.atomic():
            online.lock_booking(txn=("payme", payment.provider_txn_id))
            with other.cursor() as cursor:
                cursor.execute("SET lock_timeout = '100ms'")
                cursor.execute(
                    f"SELECT id FROM {Session._meta.db_table} WHERE id = %s FOR UPDATE", [booking.session_id]
                )
                with pytest.raises(DatabaseError):
                    cursor.execute(f"SELECT id FROM {Booking._meta.db_table} WHERE id = %s FOR UPDATE", [booking.pk])
    finally:
        other.close()


@pytest.mark.postgres
def test_table_count_is_the_orms_count_below_the_estimate_and_the_statistics_above():
    from django.db import connection

    from bookings.models import Booking
    from bookings.services import book
    from tests.factories import StudentFactory

    session = SessionFactory(capacity=10)
    for _ in range(3):
        book(session=session, student=StudentFactory())
    assert sql.table_count(Booking, estimate_from=10_000) == Booking.objects.count() == 3
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE bookings_booking")
    assert sql.table_count(Booking, estimate_from=1) == 3  # the planner's figure, exact after ANALYZE


@pytest.mark.postgres
@pytest.mark.parametrize("targets", ["query", "ids"])
@pytest.mark.parametrize("transition", ["CANCEL", "EXPIRE", "CONFIRM"])
def test_flip_and_record_writes_what_the_orms_three_statements_write(transition, targets):
    """The state machine's step 1, as one statement and as the ORM's three, on twin sets of bookings:
    the same rows back, the same columns written, the same history. The bookings are given as a
    query (a sweep's) or as the ids of bookings read (a booking's own move)."""
    from django.utils import timezone

    from bookings import services
    from bookings.models import Booking, BookingEvent, CancelReason
    from bookings.services import state_machine
    from tests.factories import OperatorFactory, StudentFactory

    move = getattr(state_machine, transition)
    operator, now = OperatorFactory(), timezone.now()
    twins = []
    for _ in range(2):
        with time_machine.travel(now, tick=False):  # the twins' own times are the same too
            sessions = [SessionFactory(capacity=5), SessionFactory(capacity=5, tutor=TutorFactory())]
            made = [services.book(session=s, student=StudentFactory(first_name="", phone="")) for s in sessions]
            services.confirm(made[1])
            services.cancel(services.book(session=sessions[0], student=StudentFactory()), reason=CancelReason.STAFF)
        twins.append(Booking.objects.filter(session__in=sessions).order_by("pk"))
    fields = {"cancel_reason": "staff", "cancelled_at": now} if transition != "CONFIRM" else {}
    flip = state_machine.Flip(
        move, limit=None, changes=move.changes(now, fields), actor=operator, data={"reason": "staff"}, now=now
    )

    chosen = twins[0] if targets == "query" else list(twins[0].values_list("pk", flat=True))
    ours = state_machine.flip_and_record(flip, chosen)
    theirs = state_machine.orm_flip_and_record(flip, twins[1])

    def shape(moved, bookings):
        """Which of the twins moved, and that each row says what the loaded booking says."""
        loaded = list(bookings.select_related("session__product", "session__tutor", "student"))
        index = {booking.pk: i for i, booking in enumerate(loaded)}
        for row in moved:
            booking = loaded[index[row.pk]]
            session = booking.session
            assert (row.reference, row.session_id, row.student_id, row.starts_at, row.product, row.product_code) == (
                booking.reference,
                session.pk,
                booking.student_id,
                session.starts_at,
                session.product.name,
                session.product.code,
            )
            assert (row.tutor_user_id, row.student) == (session.tutor and session.tutor.user_id, str(booking.student))
        return [index[row.pk] for row in moved]

    assert shape(ours, twins[0]) == shape(theirs, twins[1]) != []
    columns = ("status", "cancel_reason", "cancelled_at", "confirmed_at", "expires_at", "updated_at")
    assert [row[1:] for row in twins[0].values_list("pk", *columns)] == [
        row[1:] for row in twins[1].values_list("pk", *columns)
    ]
    history = ("action", "actor", "data", "created_at")  # the setup's history has no actor
    assert list(BookingEvent.objects.filter(booking__in=twins[0], actor=operator).values_list(*history)) == list(
        BookingEvent.objects.filter(booking__in=twins[1], actor=operator).values_list(*history)
    )


@pytest.mark.parametrize(
    ("status", "hours_ahead", "capacity", "taken"),
    [
        ("open", 5, 3, 1),  # a seat left: taken
        ("open", 5, 3, 2),  # the last seat: taken
        ("open", 5, 3, 3),  # full
        ("closed", 5, 3, 0),
        ("cancelled", 5, 3, 0),
        ("open", -1, 3, 0),  # started
    ],
)
def test_take_seat_takes_what_the_orms_conditional_update_takes_and_returns_the_counts_it_reads(
    status, hours_ahead, capacity, taken
):
    from datetime import timedelta

    from django.db.models import F
    from django.utils import timezone

    now = timezone.now()
    ours, theirs = (
        SessionFactory(
            status=status, starts_at=now + timedelta(hours=hours_ahead), capacity=capacity, seats_taken=taken
        )
        for _ in range(2)
    )

    got = sql.take_seat(ours.pk, now=now)
    updated = Session.objects.filter(seats.can_take(now), pk=theirs.pk).update(seats_taken=F("seats_taken") + 1)
    expected = Session.objects.values_list("capacity", "seats_taken", "status").get(pk=theirs.pk) if updated else None

    assert got == expected
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.seats_taken, ours.status) == (theirs.seats_taken, theirs.status)
