from bookings.models.bookings import (
    SEAT_HOLDING,
    Booking,
    BookingAction,
    BookingEvent,
    BookingSource,
    BookingStatus,
    CancelReason,
    ConfirmedVia,
    InitialState,
    PaymentMethod,
)
from bookings.models.catalog import Product, ProductKind, Scoring
from bookings.models.imports import ImportKind, ImportRecord, ImportStatus
from bookings.models.payments import Payment, PaymentLog, PaymentProvider, PaymentStatus
from bookings.models.reminders import Reminder, ReminderChannel, ReminderStatus
from bookings.models.results import FeedbackKind, FeedbackRequest, TestResult
from bookings.models.sessions import Session, SessionAction, SessionEvent, SessionSource, SessionStatus
from bookings.models.tutors import (
    Availability,
    CancellationPolicy,
    DateException,
    ExceptionKind,
    Tutor,
)

__all__ = [
    "SEAT_HOLDING",
    "Availability",
    "Booking",
    "BookingAction",
    "BookingEvent",
    "BookingSource",
    "BookingStatus",
    "CancelReason",
    "CancellationPolicy",
    "ConfirmedVia",
    "DateException",
    "ExceptionKind",
    "FeedbackKind",
    "FeedbackRequest",
    "ImportKind",
    "ImportRecord",
    "ImportStatus",
    "InitialState",
    "Payment",
    "PaymentLog",
    "PaymentMethod",
    "PaymentProvider",
    "PaymentStatus",
    "Product",
    "ProductKind",
    "Reminder",
    "ReminderChannel",
    "ReminderStatus",
    "Scoring",
    "Session",
    "SessionAction",
    "SessionEvent",
    "SessionSource",
    "SessionStatus",
    "TestResult",
    "Tutor",
]
