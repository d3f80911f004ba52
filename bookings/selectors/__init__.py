"""Read-only queries: the read rules the admin, the exports, the consumers, the tasks and the API share.

Nothing here writes. Every function runs a fixed number of queries, whatever the number of rows:
the per-student figures are correlated subqueries, so they compose with other annotations (a
join to bookings for one figure would otherwise multiply the rows another figure counts).

By topic: ``money`` (paid, owed, payment states), ``seats`` (how seats are written), ``students``
(their figures and their own bookings), ``tutors`` (their own view), ``people`` (who sees what, on
whose clock) and ``desk`` (finding sessions, students and moved bookings as staff type them).
Only what other modules use is named here; each module's own helpers stay in it.
"""

from __future__ import annotations

from bookings.selectors.desk import (
    bookings_awaiting_result,
    live_booking_for,
    search_sessions,
    sessions_to_book,
    student_search,
    students_matching,
)
from bookings.selectors.money import (
    MONEY_TAKEN,
    PaymentState,
    StudentPaymentStatus,
    amount_owed,
    online_payment_refusal,
    paid_amount_expression,
    paid_total,
    payment_state,
    refunds_due,
    service_delivered,
    stuck_payments,
    student_payment_status,
    with_paid_amount,
    with_student_payment_status,
)
from bookings.selectors.people import (
    app_users,
    sees_own_only,
    sessions_visible_to,
    viewer_timezone,
    zone_label,
)
from bookings.selectors.seats import (
    SEATS_ATTENDANCE,
    SEATS_BEFORE_START,
    Seats,
    seats_before_start,
    seats_text,
    session_seats,
    with_seat_counts,
)
from bookings.selectors.students import (
    FeedbackStats,
    StudentStats,
    bookable_sessions,
    feedback_stats,
    future_bookings,
    past_bookings,
    sessions_open_to_booking,
    student_bookings,
    student_stats,
    students_with_stats,
    with_student_list_stats,
)
from bookings.selectors.tutors import (
    TutorStats,
    tutor_bookings,
    tutor_stats,
)

__all__ = [
    "MONEY_TAKEN",
    "SEATS_ATTENDANCE",
    "SEATS_BEFORE_START",
    "FeedbackStats",
    "PaymentState",
    "Seats",
    "StudentPaymentStatus",
    "StudentStats",
    "TutorStats",
    "amount_owed",
    "app_users",
    "bookable_sessions",
    "bookings_awaiting_result",
    "feedback_stats",
    "future_bookings",
    "live_booking_for",
    "online_payment_refusal",
    "paid_amount_expression",
    "paid_total",
    "past_bookings",
    "payment_state",
    "refunds_due",
    "search_sessions",
    "seats_before_start",
    "seats_text",
    "sees_own_only",
    "service_delivered",
    "session_seats",
    "sessions_open_to_booking",
    "sessions_to_book",
    "sessions_visible_to",
    "stuck_payments",
    "student_bookings",
    "student_payment_status",
    "student_search",
    "student_stats",
    "students_matching",
    "students_with_stats",
    "tutor_bookings",
    "tutor_stats",
    "viewer_timezone",
    "with_paid_amount",
    "with_seat_counts",
    "with_student_list_stats",
    "with_student_payment_status",
    "zone_label",
]
