"""The booking engine. Admin, imports, tasks and consumers change bookings only through these."""

from bookings.services.booking import book
from bookings.services.completion import CompletionReport, auto_complete
from bookings.services.expiry import expire_due
from bookings.services.feedback import assign_feedback, complete_feedback, request_feedback, score_feedback
from bookings.services.generation import GenerationReport, generate_sessions
from bookings.services.online import (
    cancel_payment_attempt,
    refund,
    request_payme_refund,
    send_payment_link,
    set_provider_state,
    start_online_payment,
)
from bookings.services.payments import amount_owed, paid_total, pay_attempt, record_payment
from bookings.services.results import correct_result, record_result
from bookings.services.sessions import (
    KEEP,
    Duplication,
    SessionChangeRefused,
    cancel_session,
    change_capacity,
    close_session,
    create_session,
    duplicate_session,
    reopen_session,
    update_session,
)
from bookings.services.transitions import (
    cancel,
    cancellation_policy,
    complete,
    confirm,
    free_cancellation_until,
    mark_no_show,
    reschedule,
)
from bookings.services.tutors import regenerate_calendar_token

__all__ = [
    "KEEP",
    "CompletionReport",
    "Duplication",
    "GenerationReport",
    "SessionChangeRefused",
    "amount_owed",
    "assign_feedback",
    "auto_complete",
    "book",
    "cancel",
    "cancel_payment_attempt",
    "cancel_session",
    "cancellation_policy",
    "change_capacity",
    "close_session",
    "complete",
    "complete_feedback",
    "confirm",
    "correct_result",
    "create_session",
    "duplicate_session",
    "expire_due",
    "free_cancellation_until",
    "generate_sessions",
    "mark_no_show",
    "paid_total",
    "pay_attempt",
    "record_payment",
    "record_result",
    "refund",
    "regenerate_calendar_token",
    "reopen_session",
    "request_feedback",
    "request_payme_refund",
    "reschedule",
    "score_feedback",
    "send_payment_link",
    "set_provider_state",
    "start_online_payment",
    "update_session",
]
