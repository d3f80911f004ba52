"""Load a believable demo centre: staff logins, products, tutors, a month of sessions, students, bookings.

Upcoming bookings are made through ``bookings.services`` exactly as the desk would make them.
History (sessions that have started) cannot be booked any more, so it is written directly, but
to the same rules: each booking starts as ``Booking.initial_state`` decides, seats are counted by
``bookings.services.seats`` (pending and confirmed bookings only), every booking has its event
history, paid bookings have a payment, and results are real ``TestResult`` rows.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, F
from django.test.utils import override_settings
from django.utils import timezone

from backoffice.models import Role, User
from bookings import services
from bookings.management.demo_data import (
    AZIZA_HOURS,
    CENTRE_TZ,
    COMMENTS,
    FEMALE_NAMES,
    FUTURE_DAYS,
    JAMES_HOURS,
    MALE_NAMES,
    MOBILE_CODES,
    MOCK_FILL,
    MOCK_WEEKDAYS,
    PASSWORD,
    PAST_DAYS,
    PRODUCT_FIELDS,
    PRODUCTS,
    SEED,
    SPEAKING_TASKS,
    STAFF,
    STUDENT_COUNT,
    SURNAMES,
    TUTOR_PROFILES,
    WRITING_TASKS,
)
from bookings.management.demo_history import PastBooking, PastHistory, local
from bookings.models import (
    Availability,
    Booking,
    BookingEvent,
    BookingSource,
    BookingStatus,
    CancelReason,
    DateException,
    ExceptionKind,
    FeedbackKind,
    FeedbackRequest,
    Payment,
    PaymentMethod,
    Product,
    Session,
    SessionAction,
    SessionSource,
    SessionStatus,
    TestResult,
    Tutor,
)
from bookings.services import seats, session_history

# How the history of a demo session begins, by where it came from.
CREATED_AS = {SessionSource.AVAILABILITY: SessionAction.GENERATED, SessionSource.MANUAL: SessionAction.CREATED}

NOWHERE_EMAIL = "django.core.mail.backends.dummy.EmailBackend"


def next_weekday(start: date, weekdays: tuple[int, ...]) -> date:
    day = start
    while day.weekday() not in weekdays:
        day += timedelta(days=1)
    return day


def ensure_staff() -> dict[str, User]:
    """Create the demo logins if missing and reset their role and password, so the documented logins work."""
    users: dict[str, User] = {}
    for username, first_name, last_name, role, phone in STAFF:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(
                username=username,
                first_name=first_name,
                last_name=last_name,
                email=f"{first_name}.{last_name}@seatdesk.uz".lower(),
                phone=phone,
            )
        user.role = role
        user.is_active = True
        user.is_superuser = False  # the demo manager shows what the Managers group can do, no more
        user.set_password(PASSWORD)
        user.save()  # save() derives is_staff from the role; a signal puts the user in the role's group
        users[username] = user
        if username in TUTOR_PROFILES:
            Tutor.objects.get_or_create(user=user, defaults=TUTOR_PROFILES[username])
    return users


class DemoCentre(PastHistory):
    """Builds the demo data in one pass; ``rng`` is the only source of variety, so runs are repeatable."""

    def __init__(self, *, now: datetime, rng: random.Random) -> None:
        self.now = now
        self.rng = rng
        self.today = timezone.localtime(now, CENTRE_TZ).date()
        self.busy: dict[int, list[tuple[datetime, datetime]]] = {}
        self.ability: dict[int, float] = {}

    def build(self) -> None:
        staff = ensure_staff()
        self.manager, self.operator = staff["manager"], staff["operator"]
        self.aziza = Tutor.objects.select_related("user").get(user=staff["aziza"])
        self.james = Tutor.objects.select_related("user").get(user=staff["james"])
        self.products = {
            code: Product.objects.get_or_create(code=code, defaults=dict(zip(PRODUCT_FIELDS, row, strict=True)))[0]
            for code, row in PRODUCTS.items()
        }
        self.mock = self.products["IELTS-MOCK"]
        self.lesson = self.products["GE-LESSON"]
        self._tutor_calendars()
        self.students = self._students()
        sessions = self._sessions()
        past = [s for s in sessions if s.starts_at <= self.now]
        history = self._plan_history(past)
        for session in past:
            if session.ends_at <= self.now and session.status == SessionStatus.OPEN:
                session.status = SessionStatus.CLOSED  # what the hourly auto-completion does to ended sessions
        Session.objects.bulk_create(sessions)
        # Each session's history starts as the session services start it: generated or created.
        session_history.write(
            session_history.creation(s, CREATED_AS[s.source], actor=None, now=self.now) for s in sessions
        )
        self._write_history(history)
        # Only a session still running has bookings that hold a seat; the seats module counts them.
        seats.recount([session.pk for session in past])
        self._book_upcoming([s for s in sessions if s.starts_at > self.now])
        self._spread_upcoming()
        self._feedback(history)

    # --- calendars ------------------------------------------------------------------------------
    def _tutor_calendars(self) -> None:
        weekly = [(self.aziza, day, 9, 13) for day in range(5)] + [(self.aziza, day, 14, 18) for day in range(5)]
        weekly += [(self.james, day, 10, 16) for day in (1, 3, 5)]
        Availability.objects.bulk_create(
            Availability(tutor=tutor, product=self.lesson, weekday=day, start_time=time(start), end_time=time(end))
            for tutor, day, start, end in weekly
        )
        # Far enough ahead that a lesson that afternoon could still be booked (12 h notice) and then moved.
        self.sick_day = next_weekday(self.today + timedelta(days=2), (0, 1, 2, 3, 4))
        self.holiday = next_weekday(self.today + timedelta(days=8), (5,))
        DateException.objects.create(
            tutor=self.aziza,
            date=self.sick_day,
            kind=ExceptionKind.SICK_LEAVE,
            start_time=time(14),
            end_time=time(18),
            note="Doctor's appointment.",
        )
        DateException.objects.create(
            tutor=self.james, date=self.holiday, kind=ExceptionKind.HOLIDAY, note="Holiday in Scotland."
        )

    def _students(self) -> list[User]:
        rng = self.rng
        names: set[tuple[str, str]] = set()
        while len(names) < STUDENT_COUNT:
            female = rng.random() < 0.55  # most IELTS candidates at the centre are women
            first = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
            names.add((first, rng.choice(SURNAMES) + ("a" if female else "")))
        phones = {phone for *_, phone in STAFF}
        students = []
        for first, last in sorted(names):
            phone = ""
            while not phone or phone in phones:
                phone = f"+998{rng.choice(MOBILE_CODES)}{rng.randint(1_000_000, 9_999_999)}"
            phones.add(phone)
            # example.com: demo data must never reach a real inbox if a real mail backend is configured.
            email = f"{first}.{last}@example.com".lower() if rng.random() < 0.85 else ""
            student = User(first_name=first, last_name=last, phone=phone, email=email, role=Role.STUDENT)
            student.set_unusable_password()  # students are booked by staff; they never log in
            student.save()
            self.ability[student.pk] = rng.choice((4.5, 5.0, 5.5, 5.5, 6.0, 6.0, 6.5, 6.5, 7.0, 7.5))
            students.append(student)
        return students

    def _sessions(self) -> list[Session]:
        ge, speaking = self.products["GE-LESSON"], self.products["IELTS-SPEAKING"]
        clinic = self.products["WRITING-CHECK"]
        london = self.james.tzinfo
        sessions: list[Session] = []
        for offset in range(-PAST_DAYS, FUTURE_DAYS + 1):
            day = self.today + timedelta(days=offset)
            if day.weekday() in MOCK_WEEKDAYS:
                sessions.append(self._session(self.mock, None, "Hall A", local(day, 9, tz=CENTRE_TZ)))
            if day.weekday() < 5:
                for hour in sorted(self.rng.sample(AZIZA_HOURS, 4)):
                    if day == self.sick_day and hour >= 14:
                        continue  # her afternoon is off; only the lesson booked before she fell ill remains
                    if self.rng.random() < 0.3:
                        for minute in (0, 30):
                            starts = local(day, hour, minute, tz=CENTRE_TZ)
                            sessions.append(self._session(speaking, self.aziza, "Room 2", starts))
                    else:
                        sessions.append(self._session(ge, self.aziza, "Room 2", local(day, hour, tz=CENTRE_TZ)))
                if day == self.sick_day:
                    self.sick_session = self._session(ge, self.aziza, "Room 2", local(day, 15, tz=CENTRE_TZ))
                    sessions.append(self.sick_session)
            if day.weekday() in (1, 3, 5) and day != self.holiday:
                for hour in sorted(self.rng.sample(JAMES_HOURS, 3)):
                    sessions.append(self._session(ge, self.james, "Online (Zoom)", local(day, hour, tz=london)))
                if day.weekday() != 5:
                    sessions.append(self._session(clinic, self.james, "Online (Zoom)", local(day, 15, tz=london)))
        # James blocked one upcoming slot for a teacher-training day: closed, so nobody can book it.
        closed = next(s for s in sessions if s.tutor is self.james and s.starts_at > self.now + timedelta(days=4))
        closed.status = SessionStatus.CLOSED
        return sessions

    def _session(self, product: Product, tutor: Tutor | None, room: str, starts_at: datetime) -> Session:
        return Session(
            product=product,
            tutor=tutor,
            room=room,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=product.duration_minutes),
            capacity=product.default_capacity,
            source=SessionSource.AVAILABILITY if tutor else SessionSource.MANUAL,
            created_by=self.manager,
        )

    def _free_students(self, session: Session, count: int) -> list[User]:
        """Up to ``count`` students with nothing else at that time, marked busy from now on."""
        chosen = []
        for student in self.rng.sample(self.students, len(self.students)):
            if len(chosen) == count:
                break
            slots = self.busy.get(student.pk, [])
            if all(session.ends_at <= start or end <= session.starts_at for start, end in slots):
                self._reserve(student, session)
                chosen.append(student)
        return chosen

    def _reserve(self, student: User, session: Session) -> None:
        self.busy.setdefault(student.pk, []).append((session.starts_at, session.ends_at))

    # --- upcoming: through the services, as the desk would ------------------------------------------
    def _book(self, session: Session, student: User, *, pay: bool, online: bool = False) -> Booking:
        if online:
            method = self.rng.choice((PaymentMethod.CLICK, PaymentMethod.PAYME))
            actor, source = student, BookingSource.API
        else:
            method, actor, source = PaymentMethod.CASH, self.operator, BookingSource.ADMIN
        booking = services.book(session=session, student=student, payment_method=method, actor=actor, source=source)
        if pay and not session.product.is_free:
            services.record_payment(
                booking,
                provider=method,
                amount=booking.price,
                actor=None if online else self.operator,
                provider_txn_id=self._txn_id(method),
            )
        return booking

    def _expire(self, booking: Booking) -> None:
        """Let an unpaid booking run out: it was made a payment window ago, then the sweep takes it."""
        window = timedelta(hours=booking.session.product.payment_window_hours)
        now = timezone.now()
        Booking.objects.filter(pk=booking.pk).update(created_at=now - window, expires_at=now)
        booking.events.update(created_at=now - window)
        services.expire_due(now=now)
        booking.refresh_from_db()

    def _spread_upcoming(self) -> None:
        """The services stamp every booking made above "now": move each back to when a real centre
        would have taken it, so the dashboard shows a month of trade rather than one afternoon.

        A booking's whole record moves by one amount (its times, its history, its payments), and a
        reschedule chain moves together, so every duration and order stays as the services made it.
        A pending booking moves back less than it has left to pay, so it is still pending; the others
        go back up to three weeks, into the desk's hours when the desk took them.
        """
        made_now = Booking.objects.filter(created_at__gte=self.now)
        root_of: dict[int, int] = {}
        chains: dict[int, list[Booking]] = {}
        for booking in made_now.order_by("pk"):  # a rescheduled booking comes after the one it moved from
            root = root_of.get(booking.rescheduled_from_id, booking.pk)
            root_of[booking.pk] = root
            chains.setdefault(root, []).append(booking)
        for chain in chains.values():
            first = chain[0]
            if any(b.status == BookingStatus.PENDING for b in chain):
                left = min(b.expires_at for b in chain if b.status == BookingStatus.PENDING) - self.now
                room = max(left - timedelta(hours=1), timedelta(0))
                back = room * self.rng.random()
                at = self.now - back
            else:
                back = timedelta(minutes=self.rng.randint(60, 21 * 24 * 60))
                at = self.now - back
                if first.source == BookingSource.ADMIN:
                    at = self._desk_time(at, not_after=at)
            shift = self.now - at
            if shift <= timedelta(0):
                continue
            pks = [b.pk for b in chain]
            Booking.objects.filter(pk__in=pks).update(
                created_at=F("created_at") - shift,
                confirmed_at=F("confirmed_at") - shift,
                cancelled_at=F("cancelled_at") - shift,
                expires_at=F("expires_at") - shift,
            )
            BookingEvent.objects.filter(booking_id__in=pks).update(created_at=F("created_at") - shift)
            Payment.objects.filter(booking_id__in=pks).update(
                created_at=F("created_at") - shift, performed_at=F("performed_at") - shift
            )

    def _bookable(self, session: Session) -> bool:
        notice = session.tutor.min_notice if session.tutor else timedelta(0)
        return session.status == SessionStatus.OPEN and session.starts_at - self.now > notice + timedelta(hours=1)

    def _book_upcoming(self, upcoming: list[Session]) -> None:
        # A mock starting within the hour is left empty: book() would refuse it by the time we got there.
        mocks = [s for s in upcoming if s.product is self.mock and self._bookable(s)]
        lessons = [s for s in upcoming if s.product is not self.mock]
        self._sell_out(mocks[0])
        self._book_mocks(mocks)
        self._sick_leave(lessons)
        self._book_lessons(lessons)

    def _sell_out(self, first: Session) -> None:
        rng = self.rng
        # The next mock sells out: an unpaid booking expires, its seat is resold, and the student's late
        # Payme payment finds no seat -- the booking stays cancelled and is flagged for a refund.
        for student in self._free_students(first, 28):
            self._book(first, student, pay=rng.random() < 0.7, online=rng.random() < 0.3)
        late, *last_two = self._free_students(first, 3)
        late_booking = self._book(first, late, pay=False, online=True)
        self._expire(late_booking)
        for student in last_two:
            self._book(first, student, pay=True)
        services.record_payment(
            late_booking,
            provider=late_booking.payment_method,
            amount=late_booking.price,
            provider_txn_id=self._txn_id(late_booking.payment_method),
        )

    def _book_mocks(self, mocks: list[Session]) -> None:
        rng = self.rng
        for index, session in enumerate(mocks[1:], start=1):
            students = self._free_students(session, MOCK_FILL.get(index, 2))
            if index == 1:
                # One of each upcoming fate, made explicitly so that every run has them whatever the dice say.
                expired, changed_mind, moving, *students = students
                self._expire(self._book(session, expired, pay=False, online=True))
                services.cancel(
                    self._book(session, changed_mind, pay=False), reason=CancelReason.STUDENT, actor=self.operator
                )
                services.reschedule(self._book(session, moving, pay=True), to_session=mocks[2], actor=self.operator)
                self._reserve(moving, mocks[2])
            elif index == 2:
                duplicate, *students = students
                services.cancel(
                    self._book(session, duplicate, pay=False), reason=CancelReason.STAFF, actor=self.manager
                )
            for student in students:
                self._book(session, student, pay=rng.random() < 0.65, online=rng.random() < 0.3)

    def _sick_leave(self, lessons: list[Session]) -> None:
        # Aziza's sick leave: her one booked lesson that afternoon moves to a later free slot, and the
        # session is cancelled.
        sick = self.sick_session
        patient = self._free_students(sick, 1)[0]
        moved = self._book(sick, patient, pay=True)
        target = next(
            s
            for s in lessons
            if s.tutor is self.aziza and s.product == sick.product and s.starts_at > sick.ends_at and self._bookable(s)
        )
        services.reschedule(moved, to_session=target, actor=self.operator)
        self._reserve(patient, target)
        services.cancel_session(sick, reason=CancelReason.TUTOR, actor=self.manager, note="Tutor on sick leave")

        # Speaking holds expire 3 hours after booking: these are the "expiring soon" rows on the dashboard.
        speaking = [s for s in lessons if s.product.code == "IELTS-SPEAKING" and self._bookable(s)]
        for session in speaking[:2]:
            self._book(session, self._free_students(session, 1)[0], pay=False)

    def _book_lessons(self, lessons: list[Session]) -> None:
        rng = self.rng
        for session in lessons:
            session.refresh_from_db(fields=["seats_taken", "status"])
            if not self._bookable(session) or session.seats_taken:
                continue
            count = rng.randint(1, session.capacity) if session.capacity > 1 else int(rng.random() < 0.6)
            for student in self._free_students(session, count):
                if session.tutor is self.james:
                    self._book(session, student, pay=rng.random() < 0.5, online=not session.product.is_free)
                else:
                    self._book(session, student, pay=rng.random() < 0.7, online=rng.random() < 0.2)

    # --- feedback -------------------------------------------------------------------------------------
    def _feedback(self, history: list[PastBooking]) -> None:
        attended = [p.booking for p in history if p.booking.status == BookingStatus.COMPLETED]
        # Aziza marks speaking and writing, James writing; enough of each that both kinds always appear.
        chosen = []
        for tutor, count in ((self.aziza, 8), (self.james, 4)):
            theirs = [b for b in attended if b.session.tutor is tutor]
            chosen += self.rng.sample(theirs, min(count, len(theirs)))
        chosen.sort(key=lambda b: b.session.starts_at)
        for index, booking in enumerate(chosen):
            tutor = booking.session.tutor
            speaking = tutor is self.aziza and (booking.session.product.code == "IELTS-SPEAKING" or index % 2 == 1)
            kind = FeedbackKind.SPEAKING if speaking else FeedbackKind.WRITING
            created = booking.session.ends_at + timedelta(hours=self.rng.randint(1, 20))
            # The older two thirds are marked; the newest wait in the tutors' queue.
            done = index < len(chosen) * 2 // 3
            band = self.ability[booking.student_id] + self.rng.choice((-0.5, 0.0, 0.5))
            FeedbackRequest.objects.create(
                student=booking.student,
                tutor=tutor,
                booking=booking,
                kind=kind,
                task=self.rng.choice(SPEAKING_TASKS if speaking else WRITING_TASKS),
                submission=(
                    "Audio recording (2 min 10 s), sent to the centre's Telegram."
                    if speaking
                    else "In recent years more and more people have argued that ... (284 words)"
                ),
                score=Decimal(str(band)) if done else None,
                comment=self.rng.choice(COMMENTS) if done else "",
                completed=done,
                completed_at=min(created + timedelta(hours=30), self.now) if done else None,
                created_at=min(created, self.now),
            )


class Command(BaseCommand):
    help = (
        "Load an idempotent demo centre: staff logins, products, tutors, a month of sessions and bookings. "
        "Sets the staff logins manager, operator, aziza and james to the public demo password."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--demo-passwords",
            action="store_true",
            help=(
                "Run although DEBUG is off, setting the demo staff logins to the public demo password "
                "(`make run` passes it). Only for a demo or development database."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The four staff logins get a password printed in the README: on a real centre's database that
        # hands the back office to anyone (and a login named "manager" may be a real person's). DEBUG
        # on says this is a developer's machine; otherwise the operator has to say so.
        if not (settings.DEBUG or options["demo_passwords"]):
            usernames = ", ".join(username for username, *_ in STAFF)
            raise CommandError(
                f"seed_demo sets the staff logins {usernames} to the public demo password and adds demo "
                "students, sessions and bookings. DEBUG is off, so this may be a real database: nothing was "
                "changed. If this is a demo or development database, run `manage.py seed_demo --demo-passwords` "
                "(`make run` does), or set DEBUG=1."
            )
        if Product.objects.filter(code="IELTS-MOCK").exists():
            with transaction.atomic():
                ensure_staff()
            self.stdout.write("Demo centre already loaded: staff logins and passwords re-checked.")
        else:
            # The demo's weeks are simulated: what its services send to the fictional students
            # (expiry e-mails, SMS) goes nowhere, rather than printed in full on a first start.
            with override_settings(EMAIL_BACKEND=NOWHERE_EMAIL, SMS_BACKEND="dummy"), transaction.atomic():
                DemoCentre(now=timezone.now(), rng=random.Random(SEED)).build()
            self._summary()
        self._logins()

    def _summary(self) -> None:
        now = timezone.now()
        sessions = Session.objects.all()
        statuses = dict(Booking.objects.order_by().values_list("status").annotate(n=Count("id")))
        by_status = ", ".join(f"{label.lower()} {statuses.get(value, 0)}" for value, label in BookingStatus.choices)
        lines = [
            "Seatdesk demo centre loaded.",
            f"  Products: {Product.objects.count()} · Tutors: {Tutor.objects.count()} · "
            f"Students: {User.objects.students().count()}",
            f"  Sessions: {sessions.count()} ({sessions.filter(starts_at__lte=now).count()} past, "
            f"{sessions.filter(starts_at__gt=now).count()} upcoming; "
            f"{sessions.filter(status=SessionStatus.CLOSED).count()} closed, "
            f"{sessions.filter(status=SessionStatus.CANCELLED).count()} cancelled)",
            f"  Bookings: {sum(statuses.values())} — {by_status}; "
            f"{Booking.objects.filter(needs_refund=True).count()} flagged for refund",
            f"  Payments: {Payment.objects.count()} · Results: {TestResult.objects.count()} · "
            f"Feedback requests: {FeedbackRequest.objects.count()}",
        ]
        self.stdout.write("\n".join(lines))

    def _logins(self) -> None:
        self.stdout.write(f'Logins (password "{PASSWORD}"):')
        for username, first_name, last_name, role, _ in STAFF:
            zone = f", {TUTOR_PROFILES[username]['timezone']}" if username in TUTOR_PROFILES else ""
            self.stdout.write(f"  {username:<9} {first_name} {last_name} ({role.label.lower()}{zone})")
