"""The booking list's columns and the booking page's read-only fields.

Every figure comes from the admin's queryset (student, session and paid sum joined and summed in
its one query); the row links offer what ``Booking``'s predicates allow, through the same
``offered_for`` the booking page uses.
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from unfold.decorators import display

from bookings.admin.base import BOOKING_STATUS_COLOURS, badge, money, student_header, two_lines, yes_no
from bookings.models import Booking, PaymentProvider
from bookings.payments.links import payment_links
from bookings.selectors import PaymentState, amount_owed, payment_state

# The list's colour of each payment state (bookings.selectors.payment_state).
PAYMENT_STATE_COLOURS = {
    PaymentState.PAID: "success",
    PaymentState.PART: "warning",
    PaymentState.REFUND: "danger",
    PaymentState.FREE: "info",
    PaymentState.UNPAID: "grey",
}


class BookingColumnsMixin:
    """The columns of BookingAdmin's list and the computed fields of its page."""

    @display(description="Student", ordering="student__last_name")
    def student_column(self, obj: Booking) -> str:
        return two_lines(*student_header(obj.student))

    @display(description="Phone")
    def student_phone(self, obj: Booking) -> str:
        """The student's phone as people read it out (+998 90 123 45 67)."""
        return obj.student.phone_display or "–"

    @display(description="Status", ordering="status")
    def status_badge(self, obj: Booking) -> str:
        return badge(obj.get_status_display(), BOOKING_STATUS_COLOURS.get(obj.status))

    @display(description="Payment", ordering="payment_method")
    def payment_column(self, obj: Booking) -> str:
        state = payment_state(obj, obj.paid_amount)
        return badge(f"{obj.get_payment_method_display()} · {state.label}", PAYMENT_STATE_COLOURS.get(state))

    @display(description="Has result", ordering="has_result")
    def result_column(self, obj: Booking) -> str:
        return yes_no(obj.has_result)

    @display(description="Time left", ordering="expires_at")
    def time_left(self, obj: Booking) -> str:
        return obj.time_left_display

    @display(description="Price")
    def price_display(self, obj: Booking) -> str:
        return money(obj.price, obj.currency)

    @display(description="Paid")
    def paid_display(self, obj: Booking) -> str:
        paid = obj.paid_amount  # with_paid_amount() in get_queryset
        # Only a booking holding its seat is still to be paid (a cancelled one's money, if any, is
        # for a refund; a rescheduled one's moved to the new booking).
        due = amount_owed(obj, paid=paid) if obj.holds_seat else 0
        return f"{money(paid, obj.currency)} ({money(due, obj.currency)} to pay)" if due else money(paid, obj.currency)

    @display(description="Payment links")
    def payment_links(self, obj: Booking) -> str:
        """The Click and Payme checkout links for what is owed, each with a copy button (payment_links.js)."""
        links = payment_links(obj)
        if not links:
            return "No payment links: nothing is owed, or the booking is closed (cancelled, or its seat is gone)."
        return format_html(
            '<div class="flex flex-col gap-2 max-w-3xl" data-payment-links>{}</div>',
            format_html_join(
                "",
                '<div class="flex items-center gap-2" data-payment-link="{0}">'
                '<span class="font-medium w-12 shrink-0">{1}</span>'
                '<input type="text" readonly value="{2}" id="payment-link-{0}" aria-label="{1} payment link" '
                'class="border border-base-200 bg-base-50 font-mono grow min-w-0 px-2 py-1 rounded-default text-xs '
                'text-font-default-light dark:bg-base-900 dark:border-base-700 dark:text-font-default-dark">'
                '<button type="button" data-copy-link="payment-link-{0}" '
                'class="border border-base-200 cursor-pointer font-medium inline-flex items-center gap-1 px-2 py-1 '
                "rounded-default shadow-xs shrink-0 text-important hover:bg-base-100/80 dark:border-base-700 "
                'dark:hover:bg-base-800/80"><span class="material-symbols-outlined md-18">content_copy</span>'
                "<span data-copy-label>Copy</span></button></div>",
                ((provider, PaymentProvider(provider).label, url) for provider, url in links.items()),
            ),
        )

    @display(description="Rescheduled to")
    def moved_to(self, obj: Booking) -> Booking | None:
        # A reverse one-to-one: missing until the booking is rescheduled.
        return getattr(obj, "rescheduled_to", None)
