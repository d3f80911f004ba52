from bookings.models.bookings import (
    SEAT_HOLDING,
    Booking,
    BookingEvent,
    BookingSource,
    BookingStatus,
    CancelReason,
    PaymentMethod,
)
from bookings.models.catalog import Product, ProductKind, Scoring
from bookings.models.imports import ImportKind, ImportRecord, ImportStatus
from bookings.models.payments import Payment, PaymentLog, PaymentProvider, PaymentStatus
from bookings.models.reminders import Reminder, ReminderChannel, ReminderStatus
from bookings.models.results import FeedbackKind, FeedbackRequest, TestResult
from bookings.models.sessions import Session, SessionSource, SessionStatus
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
    "BookingEvent",
    "BookingSource",
    "BookingStatus",
    "CancelReason",
    "CancellationPolicy",
    "DateException",
    "ExceptionKind",
    "FeedbackKind",
    "FeedbackRequest",
    "ImportKind",
    "ImportRecord",
    "ImportStatus",
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
    "SessionSource",
    "SessionStatus",
    "TestResult",
    "Tutor",
]
