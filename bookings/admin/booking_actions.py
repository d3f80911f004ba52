"""The booking actions: each form asks for what its service needs, then calls it (bookings.admin.actions).

Which actions a booking's page and row offer comes from the model's predicates
(``Booking.can_confirm`` ...), the same ones the services check before they write.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from bookings import services
from bookings.admin.actions import ActionForm, Report
from bookings.admin.base import BOOKING_STATUS_COLOURS, money, student_header
from bookings.errors import BookingNotAllowed
from bookings.models import Booking, CancelReason, Payment, PaymentProvider, Session, SessionStatus
from bookings.selectors import amount_owed, online_payment_refusal, seats_text

if TYPE_CHECKING:
    from backoffice.models import User

# The reasons a person picks. Expired, rescheduled and payment failed are the system's verdicts.
STAFF_CANCEL_REASONS = (CancelReason.STAFF, CancelReason.STUDENT, CancelReason.TUTOR)


def payable(booking: Booking) -> bool:
    """Money is taken for a booking holding a seat, or an expired one: a late payment re-books it."""
    return booking.holds_seat or booking.is_expired


def outstanding(booking: Booking) -> Decimal:
    """What is left to pay: the rule record_payment refuses overpayment by. A booking read through
    the admin's queryset carries its paid sum (``with_paid_amount``), so a list asks no query per row."""
    return amount_owed(booking, paid=getattr(booking, "paid_amount", None))


def whole(amount: Decimal) -> Decimal:
    """``350000`` rather than ``350000.00`` in an input the operator reads and may retype."""
    return amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount


class BookingActionForm(ActionForm):
    """An action on one booking (its page, a row link) or on the bookings picked in the list."""

    noun = "booking"

    @property
    def booking(self) -> Booking:
        return self.target

    @classmethod
    def offered_for(cls, obj: Booking) -> bool:
        return obj.holds_seat

    def label(self, obj: Booking) -> str:
        return obj.reference

    def row_note(self, booking: Booking) -> str | None:
        """The page's "Amount" column for this booking; None: the page has no such column."""
        return None

    def page_context(self) -> dict[str, Any]:
        notes = [self.row_note(booking) for booking in self.objects]
        rows = [booking_row(booking, note or "") for booking, note in zip(self.objects, notes, strict=True)]
        return {"rows": rows, "show_notes": any(note is not None for note in notes)}


def booking_row(booking: Booking, note: str = "") -> dict[str, Any]:
    """A booking as an action page lists it (templates/admin/bookings/booking/action.html)."""
    return {
        "booking": booking,
        "url": reverse("admin:bookings_booking_change", args=[booking.pk]),
        "student": student_header(booking.student),
        "status_colour": BOOKING_STATUS_COLOURS.get(booking.status, ""),
        "note": note,
    }


class ConfirmForm(BookingActionForm):
    title = "Confirm booking"
    description = "The seat is kept without waiting for the payment, and the payment deadline no longer applies."
    submit_label = "Confirm"
    ask_first = False  # from the list: nothing to ask, each booking is confirmed or its refusal shown
    done = "confirmed"

    @classmethod
    def offered_for(cls, obj: Booking) -> bool:
        return obj.can_confirm(timezone.now())

    def perform_on(self, obj: Booking, actor: User | None) -> Booking:
        return services.confirm(obj, actor=actor)

    def success_message(self, result: Booking) -> str:
        return f"Booking {result.reference} confirmed."


def receipt_url(payment: Payment) -> str:
    return reverse("admin:bookings_booking_receipt", args=[payment.booking_id, payment.pk])


def receipt_link(payment: Payment) -> str:
    """A "Print receipt" link, opening a cash payment's receipt in a tab of its own; "" for other payments."""
    if payment.provider != PaymentProvider.CASH or payment.pk is None:
        return ""
    return format_html('<a href="{}" target="_blank" class="text-primary-600">Print receipt</a>', receipt_url(payment))


class MarkPaidForm(BookingActionForm):
    """Cash at the desk: what is owed, pre-filled and never more (the service refuses more), and
    what the student handed over, for the change due (cash_change.js shows it as it is typed)."""

    title = "Mark paid in cash"
    description = "Records cash taken at the desk. Once the price is covered, a pending booking is confirmed."
    submit_label = "Record payment"

    amount = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        widget=UnfoldAdminDecimalFieldWidget(attrs={"data-amount-owed": True}),
    )
    handed_over = forms.DecimalField(
        required=False,
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        widget=UnfoldAdminDecimalFieldWidget(attrs={"data-handed-over": True, "autocomplete": "off"}),
    )

    class Media:
        js = ("bookings/cash_change.js",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        booking = self.booking
        paid = services.paid_total(booking)
        due = max(booking.price - paid, Decimal(0))
        field = self.fields["amount"]
        field.label = f"Amount ({booking.currency})"
        field.initial = whole(due) if due else None
        # unfold renders help text as HTML: anything built from data goes through format_html.
        field.help_text = format_html(
            "Price {}, paid so far {}.", money(booking.price, booking.currency), money(paid, booking.currency)
        )
        handed = self.fields["handed_over"]
        handed.label = f"Handed over ({booking.currency})"
        handed.help_text = format_html(
            'Optional: the cash the student gave, for the change. <output data-change-due data-currency="{}" '
            'aria-live="polite" class="font-semibold text-important"></output>',
            booking.currency,
        )
        self.payment: Payment | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        amount, handed = data.get("amount"), data.get("handed_over")
        if amount is not None and handed is not None and handed < amount:
            self.add_error("handed_over", "Less than the amount recorded: take what is owed, or record less.")
        return data

    @classmethod
    def offered_for(cls, obj: Booking) -> bool:
        return payable(obj) and outstanding(obj) > 0

    def perform_on(self, obj: Booking, actor: User | None) -> Booking:
        self.payment = services.record_payment(
            obj, provider=PaymentProvider.CASH, amount=self.cleaned_data["amount"], actor=actor
        )
        return obj  # record_payment copies the booking's new state onto it

    def success_message(self, result: Booking) -> str:
        amount = self.cleaned_data["amount"]
        text = f"{money(amount, result.currency)} in cash recorded for {result.reference}"
        if result.needs_refund:
            text += "; the booking has no seat, so the money is flagged for refund"
        else:
            text += f"; the booking is {result.get_status_display().lower()}"
        if (handed := self.cleaned_data.get("handed_over")) is not None:
            text += f"; change due {money(handed - amount, result.currency)}"
        link = receipt_link(self.payment) if self.payment is not None else ""
        return format_html("{}. {}", text, link) if link else f"{text}."


class SendPaymentLinkForm(BookingActionForm):
    title = "Send payment link"
    description = (
        "Sends the student the booking's Click and Payme payment links, for what it still owes. "
        "The booking stays pending until the payment arrives."
    )
    submit_label = "Send link"

    by_sms = forms.BooleanField(required=False, label="By SMS", widget=UnfoldBooleanSwitchWidget)
    by_email = forms.BooleanField(required=False, label="By e-mail", widget=UnfoldBooleanSwitchWidget)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        student = self.booking.student
        for name, address, missing in (
            ("by_sms", str(student.phone or ""), "No phone number on file."),
            ("by_email", student.email, "No e-mail address on file."),
        ):
            field = self.fields[name]
            field.initial = bool(address)
            field.disabled = not address
            field.help_text = address or missing
        self.outcome: dict[str, str] = {}

    @classmethod
    def offered_for(cls, obj: Booking) -> bool:
        return online_payment_refusal(obj, starting=True, owed=outstanding(obj)) is None and links_configured()

    def perform_on(self, obj: Booking, actor: User | None) -> Booking:
        self.outcome = services.send_payment_link(
            obj, actor=actor, sms=self.cleaned_data["by_sms"], email=self.cleaned_data["by_email"]
        )
        return obj

    def report(self, result: Booking) -> Report:
        failed = [error for error in self.outcome.values() if error]
        if not failed:
            level = messages.SUCCESS
        else:
            level = messages.ERROR if len(failed) == len(self.outcome) else messages.WARNING
        return [(level, self.success_message(result))]

    def success_message(self, result: Booking) -> str:
        student = result.student
        sent, failed = [], []
        for channel, error in self.outcome.items():
            how = f"by SMS to {student.phone}" if channel == "sms" else f"by e-mail to {student.email}"
            (failed if error else sent).append(f"{how} ({error})" if error else how)
        text = f"Payment link for {result.reference}"
        if sent:
            text += f" sent {' and '.join(sent)}"
        if failed:
            text += f"{';' if sent else ''} not sent {' and '.join(failed)}"
        return text + "."


def links_configured() -> bool:
    return bool((settings.CLICK_SERVICE_ID and settings.CLICK_MERCHANT_ID) or settings.PAYME_MERCHANT_ID)


class CancelForm(BookingActionForm):
    title = "Cancel booking"
    description = "The seat is released at once. The booking stays in the list, cancelled, with its history."
    submit_label = "Cancel booking"
    bulk_title = "Cancel bookings"
    bulk_description = "Each booking is cancelled on its own; one that cannot be is reported and skipped."
    bulk_submit_label = "Cancel bookings"
    submit_variant = "danger"
    done = "cancelled"

    reason = forms.ChoiceField(
        choices=[(reason.value, reason.label) for reason in STAFF_CANCEL_REASONS],
        initial=CancelReason.STAFF,
        widget=UnfoldAdminSelectWidget,
    )
    override_policy = forms.BooleanField(
        required=False,
        label="Override the cancellation policy",
        help_text="For a student's cancellation after the free-cancellation cut-off; kept in the history.",
        widget=UnfoldBooleanSwitchWidget,
    )
    note = forms.CharField(
        required=False,
        max_length=500,
        label="Note",
        help_text="Optional: what was said, kept in the booking's history.",
        widget=UnfoldAdminTextInputWidget,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.bulk and self.booking.holds_seat:
            until = timezone.localtime(services.free_cancellation_until(self.booking.session))
            policy = services.cancellation_policy(self.booking.session)
            self.fields["override_policy"].help_text = format_html(
                "Free cancellation under the {} policy ends {}. "
                "Tick to cancel a student's booking after that; the override is kept in the history.",
                policy,
                f"{until:%a %d %b %H:%M}",
            )

    @classmethod
    def offered_for(cls, obj: Booking) -> bool:
        return obj.can_cancel(timezone.now())

    def perform_on(self, obj: Booking, actor: User | None) -> Booking:
        return services.cancel(
            obj,
            reason=self.cleaned_data["reason"],
            override_policy=self.cleaned_data["override_policy"],
            note=self.cleaned_data["note"],
            actor=actor,
        )

    def success_message(self, result: Booking) -> str:
        return f"Booking {result.reference} cancelled ({result.get_cancel_reason_display().lower()})."


class MarkPaidSelectedForm(BookingActionForm):
    """The list's "mark paid": each booking gets a cash payment of what it still owes."""

    title = "Mark bookings paid in cash"
    description = "Records, for each booking, the cash it still owes."
    submit_label = "Record payments"
    done = "paid in cash"

    def row_note(self, booking: Booking) -> str:
        # The admin's queryset sums what was paid (with_paid_amount): no query per row.
        return f"to pay {money(amount_owed(booking, paid=booking.paid_amount), booking.currency)}"

    def perform_on(self, obj: Booking, actor: User | None) -> Payment:
        if not payable(obj):
            raise BookingNotAllowed(f"Booking {obj.reference} is {obj.get_status_display().lower()}.")
        due = services.amount_owed(obj)  # read now, not the list's sum: money may have come in since
        if not due:
            raise BookingNotAllowed(f"Booking {obj.reference} has nothing left to pay.")
        return services.record_payment(obj, provider=PaymentProvider.CASH, amount=due, actor=actor)


def session_label(session: Session) -> str:
    local = timezone.localtime(session.starts_at)
    tutor = str(session.tutor) if session.tutor_id else "no tutor"
    seats = seats_text(status=session.status, capacity=session.capacity, seats_taken=session.seats_taken)
    return f"{local:%a %d %b %Y %H:%M} · {tutor} · {seats}"


class RescheduleForm(BookingActionForm):
    title = "Reschedule booking"
    description = (
        "Moves the student to another session of the same product, keeping the price, the payment and the status."
    )
    submit_label = "Reschedule"

    to_session = forms.ModelChoiceField(
        queryset=Session.objects.none(), label="Move to", widget=UnfoldAdminSelectWidget
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.booking.session
        field = self.fields["to_session"]
        # Any session of the product is accepted here and the service judges seats, status and
        # notice, so one that filled up after this page was opened is refused with "... is full".
        field.queryset = (
            Session.objects.filter(product_id=current.product_id).exclude(pk=current.pk).select_related("tutor__user")
        )
        offered = field.queryset.filter(
            status=SessionStatus.OPEN, starts_at__gt=timezone.now(), seats_taken__lt=F("capacity")
        ).order_by("starts_at", "pk")
        field.choices = [("", "Choose a session"), *((s.pk, session_label(s)) for s in offered)]
        # The product's name is typed by staff, and unfold renders help text as HTML (issue 12).
        field.help_text = format_html(
            "Open {} sessions with a free seat." if len(field.choices) > 1 else "No other {} session has a free seat.",
            current.product,
        )

    @classmethod
    def offered_for(cls, obj: Booking) -> bool:
        return obj.can_reschedule(timezone.now())

    def perform_on(self, obj: Booking, actor: User | None) -> Booking:
        return services.reschedule(obj, to_session=self.cleaned_data["to_session"], actor=actor)

    def success_message(self, result: Booking) -> str:
        return f"Booking {self.booking.reference} moved to {result.session}: the new booking is {result.reference}."


class NoShowForm(BookingActionForm):
    title = "Mark as no-show"
    description = "The student did not come. The seat count of the session is released."
    submit_label = "Mark as no-show"
    submit_variant = "danger"

    @classmethod
    def offered_for(cls, obj: Booking) -> bool:
        return obj.can_mark_no_show(timezone.now())

    def perform_on(self, obj: Booking, actor: User | None) -> Booking:
        return services.mark_no_show(obj, actor=actor)

    def success_message(self, result: Booking) -> str:
        return f"Booking {result.reference} marked as a no-show."


class CompleteForm(BookingActionForm):
    title = "Complete booking"
    description = "The student sat the session. Recording a result completes a booking too."
    submit_label = "Complete"

    @classmethod
    def offered_for(cls, obj: Booking) -> bool:
        return obj.can_complete(timezone.now())

    def perform_on(self, obj: Booking, actor: User | None) -> Booking:
        return services.complete(obj, actor=actor)

    def success_message(self, result: Booking) -> str:
        return f"Booking {result.reference} completed."


# The booking actions by the admin's method name, in the order the page and the row links show them.
ACTION_FORMS: dict[str, type[BookingActionForm]] = {
    "confirm_booking": ConfirmForm,
    "mark_paid": MarkPaidForm,
    "send_payment_link": SendPaymentLinkForm,
    "cancel_booking": CancelForm,
    "reschedule_booking": RescheduleForm,
    "mark_no_show": NoShowForm,
    "complete_booking": CompleteForm,
}
