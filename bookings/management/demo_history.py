"""The demo centre's past: bookings of sessions that have already started.

They cannot be booked any more, so they are planned in memory and inserted in bulk, but to the same
rules as ``book()``: each starts as ``Booking.initial_state`` decides, every one has its event
history, paid ones have a payment, and results are real ``TestResult`` rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from backoffice.models import User
from bookings.management.demo_data import CENTRE_TZ, SEED_DATA
from bookings.models import (
    Booking,
    BookingAction,
    BookingEvent,
    BookingSource,
    BookingStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Product,
    Session,
    TestResult,
    Tutor,
)


def local(day: date, hour: int, minute: int = 0, *, tz: ZoneInfo) -> datetime:
    """A wall-clock time in ``tz`` as an aware UTC datetime, which is how Session stores it."""
    return datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)


@dataclass
class PastBooking:
    """A booking of a session that has already started: planned in memory, then inserted in bulk."""

    booking: Booking
    events: list[tuple[datetime, str, User | None, dict[str, Any]]] = field(default_factory=list)
    payment: Payment | None = None
    result: tuple[datetime, dict[str, Decimal]] | None = None


class PastHistory:
    """The demo centre's planning of past bookings (a mixin of ``DemoCentre``, whose people,
    products and dice it uses)."""

    now: datetime
    rng: random.Random
    mock: Product
    james: Tutor
    operator: User
    manager: User
    ability: dict[int, float]

    _free_students: Callable[[Session, int], list[User]]  # DemoCentre's: students free at that time

    def _bands(self, student: User) -> dict[str, Decimal]:
        base = self.ability[student.pk]
        bands = {}
        for name, bias in (("listening", 0.5), ("reading", 0.0), ("writing", -0.5), ("speaking", 0.0)):
            band = base + bias + self.rng.choice((-1.0, -0.5, 0.0, 0.0, 0.5))
            bands[name] = Decimal(str(min(max(band, 3.0), 9.0)))
        return bands

    def _plan_history(self, past: list[Session]) -> list[PastBooking]:
        history = []
        for session in past:
            if session.product is self.mock:
                count = self.rng.randint(18, 27)
            elif session.capacity > 1:
                count = self.rng.randint(1, session.capacity)
            else:
                count = 1 if self.rng.random() < 0.75 else 0
            history += [self._plan_past_booking(session, student) for student in self._free_students(session, count)]
        return history

    def _plan_past_booking(self, session: Session, student: User) -> PastBooking:
        rng, product, tutor = self.rng, session.product, session.tutor
        # How a booking starts is the model's decision, as for every booking book() makes.
        instant = Booking.confirms_at_once(session) is not None
        outcomes = {"completed": 80, "no_show": 7, "student": 6, "staff": 2, "expired": 0 if instant else 7}
        outcome = rng.choices(list(outcomes), weights=list(outcomes.values()))[0]
        online = not product.is_free and rng.random() < (0.8 if tutor is self.james else 0.25)
        method = rng.choice((PaymentMethod.CLICK, PaymentMethod.PAYME)) if online else PaymentMethod.CASH
        booker = student if online else self.operator
        created = session.starts_at - timedelta(minutes=rng.randint(20 * 60, 240 * 60))
        if not online:
            created = self._desk_time(created, not_after=session.starts_at - timedelta(hours=20))
        start = Booking.initial_state(session, now=created)
        expires = start.expires_at
        deadline = expires or session.starts_at
        booking = Booking(
            student=student,
            session=session,
            payment_method=method,
            price=product.price,
            currency=product.currency,
            expires_at=expires,
            source=BookingSource.API if online else BookingSource.ADMIN,
            created_by=booker,
            created_at=created,
        )
        plan = PastBooking(booking)
        events = plan.events
        events.append((created, BookingAction.CREATED, booker, {"price": f"{product.price:.2f}"}))
        if instant:
            booking.confirmed_at = start.confirmed_at
            events.append((created, BookingAction.CONFIRMED, None, {"via": start.confirmed_via}))
        if outcome in ("expired", "student", "staff"):
            booking.status, booking.cancel_reason = BookingStatus.CANCELLED, outcome
            if outcome == "expired":
                booking.cancelled_at = expires
                events.append((expires, BookingAction.EXPIRED, None, {"reason": outcome}))
            else:
                when = self._desk_time(created + (deadline - created) * rng.uniform(0.2, 0.7), not_after=deadline)
                booking.cancelled_at = max(when, created + timedelta(minutes=30))
                actor = self.operator if outcome == "student" else self.manager
                events.append((booking.cancelled_at, BookingAction.CANCELLED, actor, {"reason": outcome}))
            return plan
        self._plan_attendance(plan, outcome=outcome, online=online, instant=instant, deadline=deadline)
        return plan

    def _plan_attendance(
        self, plan: PastBooking, *, outcome: str, online: bool, instant: bool, deadline: datetime
    ) -> None:
        """A booking that was kept: its payment (cash at the desk, online within the window), then
        attended, a no-show, or confirmed for a session running now."""
        rng, booking, events = self.rng, plan.booking, plan.events
        session, created, method = booking.session, booking.created_at, booking.payment_method
        product, tutor = session.product, session.tutor
        # Attended or not, the booking was confirmed: at once, or by payment.
        booking.expires_at = None
        if not product.is_free:
            # Cash is paid at the desk while booking; online payments arrive within the payment window.
            if online:
                paid_at = created + (deadline - created) * rng.uniform(0.05, 0.6)
            else:
                paid_at = created + timedelta(minutes=rng.randint(2, 10))
            plan.payment = Payment(
                booking=booking,
                provider=method,
                amount=product.price,
                currency=product.currency,
                status=PaymentStatus.PAID,
                provider_txn_id=self._txn_id(method),
                performed_at=paid_at,
                created_by=None if online else self.operator,
                created_at=paid_at,
            )
            cashier = None if online else self.operator
            events.append(
                (
                    paid_at,
                    BookingAction.PAYMENT_RECEIVED,
                    cashier,
                    {"provider": method, "amount": f"{product.price:.2f}"},
                )
            )
            if not instant:
                booking.confirmed_at = paid_at
                events.append((paid_at, BookingAction.CONFIRMED, cashier, {"via": "payment"}))
        register = tutor.user if tutor else self.operator  # whoever takes the register marks attendance
        if outcome == "no_show":
            booking.status = BookingStatus.NO_SHOW
            events.append(
                (min(session.starts_at + timedelta(minutes=20), self.now), BookingAction.NO_SHOW, register, {})
            )
        elif session.ends_at <= self.now:
            booking.status = BookingStatus.COMPLETED
            events.append((session.ends_at, BookingAction.COMPLETED, register, {"via": "attended"}))
            result_at = session.ends_at + timedelta(hours=rng.randint(20, 70))
            if product is self.mock and result_at <= self.now:  # the latest mock may still be being marked
                plan.result = (result_at, self._bands(booking.student))
        else:
            booking.status = BookingStatus.CONFIRMED  # the session is running right now

    def _desk_time(self, at: datetime, *, not_after: datetime) -> datetime:
        """``at`` if the front desk is open then (09–19 in Tashkent), else a desk-hours moment that day or before."""
        local_at = timezone.localtime(at, CENTRE_TZ)
        if 9 <= local_at.hour < 19:
            return at
        moved = local(local_at.date(), self.rng.randint(9, 18), self.rng.randint(0, 59), tz=CENTRE_TZ)
        while moved > not_after:
            moved -= timedelta(days=1)
        return moved

    def _txn_id(self, method: str) -> str | None:
        if method == PaymentMethod.CLICK:
            return str(self.rng.randint(2_000_000_000, 2_999_999_999))
        if method == PaymentMethod.PAYME:
            return f"{self.rng.getrandbits(96):024x}"  # Payme ids look like Mongo ObjectIds
        return None

    def _write_history(self, history: list[PastBooking]) -> None:
        Booking.objects.bulk_create([plan.booking for plan in history], batch_size=500)
        Payment.objects.bulk_create([plan.payment for plan in history if plan.payment], batch_size=500)
        events = []
        for plan in history:
            booking = plan.booking
            for at, action, actor, data in plan.events:
                if action == BookingAction.CREATED:
                    data = {**data, "session": booking.session_id, "payment_method": booking.payment_method}
                events.append(
                    BookingEvent(booking=booking, action=action, actor=actor, data=SEED_DATA | data, created_at=at)
                )
            if plan.result:
                at, bands = plan.result
                test_date = timezone.localtime(booking.session.starts_at, CENTRE_TZ).date()
                result = TestResult(
                    booking=booking, test_date=test_date, created_by=self.operator, created_at=at, **bands
                )
                result.full_clean(exclude=["booking", "created_by"])  # bands must sit on the 0.5 grid
                result.save()  # its post_save signal sets booking.has_result
                data = SEED_DATA | {"result": result.pk, "overall": str(result.overall)}
                events.append(
                    BookingEvent(
                        booking=booking,
                        action=BookingAction.RESULT_RECORDED,
                        actor=self.operator,
                        data=data,
                        created_at=at,
                    )
                )
        BookingEvent.objects.bulk_create(events, batch_size=1000)
