from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from django.conf import settings
from django.db import models
from django.utils import timezone

from bookings.models.history import HistoryEvent
from bookings.models.sessions import Session

# No 0/O, 1/I/L: a reference is read out over the phone.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 7


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


class BookingStatus(models.TextChoices):
    PENDING = "pending", "Pending payment"
    CONFIRMED = "confirmed", "Confirmed"
    COMPLETED = "completed", "Completed"
    NO_SHOW = "no_show", "No-show"
    CANCELLED = "cancelled", "Cancelled"


# Statuses that hold a seat. Session.seats_taken always equals the number of these.
SEAT_HOLDING = (BookingStatus.PENDING, BookingStatus.CONFIRMED)


class CancelReason(models.TextChoices):
    EXPIRED = "expired", "Not paid in time"
    STUDENT = "student", "Cancelled by the student"
    STAFF = "staff", "Cancelled by staff"
    TUTOR = "tutor", "Cancelled by the tutor"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    RESCHEDULED = "rescheduled", "Moved to another session"


class PaymentMethod(models.TextChoices):
    CASH = "cash", "Cash"
    CLICK = "click", "Click"
    PAYME = "payme", "Payme"


class BookingSource(models.TextChoices):
    ADMIN = "admin", "Back office"
    API = "api", "Online"
    IMPORT = "import", "Import"


class BookingAction(models.TextChoices):
    """What a booking's history records (``BookingEvent.action``), dotted as the realtime events are.

    The ``booking.*`` values are also the event types of ``realtime.events`` (DESIGN.md): a
    transition writes its history row and publishes its event under the same name.
    """

    CREATED = "booking.created", "Booked"
    CONFIRMED = "booking.confirmed", "Confirmed"
    CANCELLED = "booking.cancelled", "Cancelled"
    EXPIRED = "booking.expired", "Expired (not paid in time)"
    RESCHEDULED = "booking.rescheduled", "Rescheduled"
    COMPLETED = "booking.completed", "Completed"
    NO_SHOW = "booking.no_show", "No-show"
    REFUND_DUE = "booking.refund_due", "Refund due"
    PAYMENT_STARTED = "payment.started", "Online payment started"
    PAYMENT_RECEIVED = "payment.received", "Payment received"
    PAYMENT_FAILED = "payment.failed", "Payment failed"
    PAYMENT_CANCELLED = "payment.cancelled", "Payment cancelled"
    PAYMENT_REFUNDED = "payment.refunded", "Payment refunded"
    PAYMENT_REFUND_REQUESTED = "payment.refund_requested", "Refund requested"
    PAYMENT_LINK_SENT = "payment.link_sent", "Payment link sent"
    PAYMENT_MOVED = "payment.moved", "Payment moved"
    RESULT_RECORDED = "result.recorded", "Result recorded"
    RESULT_CORRECTED = "result.corrected", "Result corrected"
    REMINDER_SENT = "reminder.sent", "Reminder sent"
    REMINDER_RESENT = "reminder.resent", "Reminder sent again"
    REMINDER_FAILED = "reminder.failed", "Reminder failed"
    FEEDBACK_ASSIGNED = "feedback.assigned", "Feedback assigned"
    FEEDBACK_SCORED = "feedback.scored", "Feedback scored"
    FEEDBACK_COMPLETED = "feedback.completed", "Feedback completed"


class ConfirmedVia(models.TextChoices):
    """Why a booking is confirmed the moment it is made (``booking.confirmed``'s ``via``)."""

    FREE = "free", "Free product"
    AUTO_CONFIRM = "auto_confirm", "The tutor confirms automatically"
    IMPORT = "import", "Imported as confirmed"


@dataclass(frozen=True, slots=True)
class InitialState:
    """How a new booking starts (``Booking.initial_state``): its status, deadline and confirmation."""

    status: str
    expires_at: datetime | None
    confirmed_at: datetime | None
    # Why it is confirmed at once (a ``ConfirmedVia``), or None: pending, or a status carried over.
    confirmed_via: str | None


class Booking(models.Model):
    reference = models.CharField(max_length=12, unique=True, default=new_reference, editable=False)
    # No single-column indexes: (student, created_at) and (session, status) below lead with these
    # columns and serve the same lookups, and every index is paid again on each booking insert.
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings", db_index=False
    )
    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="bookings", db_index=False)
    status = models.CharField(max_length=10, choices=BookingStatus.choices, default=BookingStatus.PENDING)
    cancel_reason = models.CharField(max_length=16, choices=CancelReason.choices, blank=True)
    payment_method = models.CharField(max_length=8, choices=PaymentMethod.choices, default=PaymentMethod.CASH)
    price = models.DecimalField(max_digits=12, decimal_places=2, help_text="Price when booked.")
    currency = models.CharField(max_length=3, default="UZS")
    expires_at = models.DateTimeField(null=True, blank=True)
    has_result = models.BooleanField(default=False, editable=False)
    needs_refund = models.BooleanField(
        default=False,
        help_text="Paid after the seat was lost: the money is to be returned.",
    )
    rescheduled_from = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rescheduled_to",
    )
    source = models.CharField(max_length=8, choices=BookingSource.choices, default=BookingSource.ADMIN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("import_booking", "Can import bookings from a spreadsheet")]
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["session", "status"]),
            models.Index(fields=["student", "created_at"]),
            models.Index(fields=["created_at"]),
            models.Index(
                fields=["needs_refund"],
                condition=models.Q(needs_refund=True),
                name="booking_refund_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["student", "session"],
                condition=models.Q(status__in=SEAT_HOLDING),
                name="booking_one_active_per_student_session",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=BookingStatus.CANCELLED) | ~models.Q(cancel_reason=""),
                name="booking_cancelled_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @staticmethod
    def initial_state(
        session: Session,
        *,
        now: datetime,
        confirm_via: str | None = None,
        keep_status: str | None = None,
        keep_expires_at: datetime | None = None,
    ) -> InitialState:
        """How a booking of ``session`` made at ``now`` starts: the one place this is decided.

        A free product or a tutor with auto-confirm confirms at once; so does a caller that says
        why (``confirm_via``: an import of confirmed bookings). Otherwise the booking is pending
        until paid and expires after the product's payment window -- never later than the start.
        A rescheduled booking keeps its status and deadline (``keep_*``), the deadline again no
        later than the new start. ``session`` needs its product and tutor loaded.
        """
        product = session.product
        via = Booking.confirms_at_once(session) or confirm_via
        if keep_status is not None:
            status, via = keep_status, None
        elif via is not None:
            status = BookingStatus.CONFIRMED
        else:
            status = BookingStatus.PENDING
        expires_at = None
        if status == BookingStatus.PENDING:
            deadline = keep_expires_at or now + timedelta(hours=product.payment_window_hours)
            expires_at = min(deadline, session.starts_at)
        confirmed_at = now if status == BookingStatus.CONFIRMED else None
        return InitialState(status=status, expires_at=expires_at, confirmed_at=confirmed_at, confirmed_via=via)

    @staticmethod
    def confirms_at_once(session: Session) -> str | None:
        """Why a booking of ``session`` is confirmed the moment it is made (a ``ConfirmedVia``):
        a free product, or a tutor with auto-confirm. None: it waits for payment."""
        if session.product.is_free:
            return ConfirmedVia.FREE
        if session.tutor_id and session.tutor.auto_confirm:
            return ConfirmedVia.AUTO_CONFIRM
        return None

    # --- What may happen next. The services check these (and compare-and-set the status as they
    # write); the admin asks them which actions to offer. ``now`` is the caller's clock.

    def can_confirm(self, now: datetime) -> bool:
        return self.status == BookingStatus.PENDING

    def can_cancel(self, now: datetime) -> bool:
        return self.status in SEAT_HOLDING

    def can_reschedule(self, now: datetime) -> bool:
        return self.status in SEAT_HOLDING

    def can_expire(self, now: datetime) -> bool:
        """Pending past its payment deadline. (The sweep also waits for money in flight.)"""
        return self.status == BookingStatus.PENDING and self.expires_at is not None and self.expires_at <= now

    def can_complete(self, now: datetime) -> bool:
        """Confirmed, and the session has started or a result was recorded."""
        return self.status == BookingStatus.CONFIRMED and (self.session.starts_at <= now or self.has_result)

    def can_mark_no_show(self, now: datetime) -> bool:
        """Confirmed, and the session has started: nobody is a no-show before then."""
        return self.status == BookingStatus.CONFIRMED and self.session.starts_at <= now

    @property
    def holds_seat(self) -> bool:
        return self.status in SEAT_HOLDING

    @property
    def is_expired(self) -> bool:
        """True for a booking cancelled for non-payment, or a pending one past its deadline."""
        if self.status == BookingStatus.CANCELLED:
            return self.cancel_reason == CancelReason.EXPIRED
        return self.can_expire(timezone.now())

    @property
    def time_left(self) -> timedelta:
        """Time until a pending booking expires, truncated to whole minutes; zero otherwise."""
        if self.status != BookingStatus.PENDING or self.expires_at is None:
            return timedelta(0)
        left = self.expires_at - timezone.now()
        if left <= timedelta(0):
            return timedelta(0)
        return timedelta(minutes=int(left.total_seconds() // 60))

    @property
    def time_left_display(self) -> str:
        """``12 h 30 min`` for a pending booking, empty otherwise."""
        left = self.time_left
        if not left:
            return "under 1 min" if self.status == BookingStatus.PENDING and not self.is_expired else ""
        hours, minutes = divmod(int(left.total_seconds() // 60), 60)
        return f"{hours} h {minutes} min" if hours else f"{minutes} min"


class BookingEvent(HistoryEvent):
    """Append-only history of a booking: who did what, when."""

    noun = "Booking history"

    # Indexed once, by (booking, created_at) below: history is read per booking, and every extra
    # index is paid on each of the many rows an expiry sweep or an import writes.
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="events", db_index=False)
    action = models.CharField(max_length=40)

    class Meta(HistoryEvent.Meta):
        indexes = [models.Index(fields=["booking", "created_at"])]

    @property
    def action_label(self) -> str:
        """The action in words: "Payment received", not "payment.received"."""
        labels = dict(BookingAction.choices)
        return str(labels[self.action]) if self.action in labels else super().action_label

    def describe(self, *, tz: tzinfo | None = None, sessions: Mapping[int, Session] | None = None) -> str:
        """The event's data in words and local times, for people (not its JSON): the session by
        product and time on ``tz`` (default the centre's clock; ``sessions`` by id when it is not the
        booking's own), amounts with their currency, codes by their labels."""
        from bookings.models.booking_history import describe  # it reads this module's choices

        return describe(self, tz=tz, sessions=sessions)
