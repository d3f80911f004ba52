"""The forms behind the booking page's actions: each asks for what its service needs, then calls it.

The admin shows a form on GET and runs ``perform`` on a valid POST; a ``BookingError`` from the
service becomes the form's error, and the service's own transaction has written nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import F
from django.utils import timezone
from django.utils.html import format_html
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from bookings import services
from bookings.admin.base import money
from bookings.models import Booking, BookingStatus, CancelReason, PaymentProvider, Session, SessionStatus
from bookings.selectors import seats_text

# The reasons a person picks. Expired, rescheduled and payment failed are the system's verdicts.
STAFF_CANCEL_REASONS = (CancelReason.STAFF, CancelReason.STUDENT, CancelReason.TUTOR)


def payable(booking: Booking) -> bool:
    """Money is taken for a booking holding a seat, or an expired one: a late payment re-books it."""
    return booking.holds_seat or booking.is_expired


def outstanding(booking: Booking) -> Decimal:
    """What is left to pay, counting what was paid before the booking was rescheduled."""
    return services.amount_owed(booking)  # the rule record_payment refuses overpayment by


def whole(amount: Decimal) -> Decimal:
    """``350000`` rather than ``350000.00`` in an input the operator reads and may retype."""
    return amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount


class BookingActionForm(forms.Form):
    """One action on one booking: the input it needs and the service call it makes."""

    title = ""
    description = ""
    submit_label = ""
    submit_variant = "primary"  # unfold's button colour; "danger" for what cannot be undone

    def __init__(self, *args: Any, booking: Booking, **kwargs: Any) -> None:
        self.booking = booking
        super().__init__(*args, **kwargs)

    @classmethod
    def offered_for(cls, booking: Booking) -> bool:
        """Whether the booking page shows this action. The service still has the last word."""
        return booking.holds_seat

    def perform(self, actor: Any) -> Booking:
        """Call the service; return the booking to show next."""
        raise NotImplementedError

    def success_message(self, result: Booking) -> str:
        raise NotImplementedError


class ConfirmForm(BookingActionForm):
    title = "Confirm booking"
    description = "The seat is kept without waiting for the payment, and the payment deadline no longer applies."
    submit_label = "Confirm"

    @classmethod
    def offered_for(cls, booking: Booking) -> bool:
        return booking.can_confirm(timezone.now())

    def perform(self, actor: Any) -> Booking:
        return services.confirm(self.booking, actor=actor)

    def success_message(self, result: Booking) -> str:
        return f"Booking {result.reference} confirmed."


class MarkPaidForm(BookingActionForm):
    title = "Mark paid in cash"
    description = "Records cash taken at the desk. Once the price is covered, a pending booking is confirmed."
    submit_label = "Record payment"

    amount = forms.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), widget=UnfoldAdminDecimalFieldWidget
    )

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

    @classmethod
    def offered_for(cls, booking: Booking) -> bool:
        return payable(booking) and outstanding(booking) > 0

    def perform(self, actor: Any) -> Booking:
        services.record_payment(
            self.booking, provider=PaymentProvider.CASH, amount=self.cleaned_data["amount"], actor=actor
        )
        return self.booking  # record_payment copies the booking's new state onto it

    def success_message(self, result: Booking) -> str:
        text = f"{money(self.cleaned_data['amount'], result.currency)} in cash recorded for {result.reference}"
        if result.needs_refund:
            return f"{text}; the booking has no seat, so the money is flagged for refund."
        return f"{text}; the booking is {result.get_status_display().lower()}."


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
    def offered_for(cls, booking: Booking) -> bool:
        return booking.status == BookingStatus.PENDING and outstanding(booking) > 0 and links_configured()

    def perform(self, actor: Any) -> Booking:
        self.outcome = services.send_payment_link(
            self.booking, actor=actor, sms=self.cleaned_data["by_sms"], email=self.cleaned_data["by_email"]
        )
        return self.booking

    @property
    def message_level(self) -> int:
        failed = [error for error in self.outcome.values() if error]
        if not failed:
            return messages.SUCCESS
        return messages.ERROR if len(failed) == len(self.outcome) else messages.WARNING

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


class CancelChoiceForm(forms.Form):
    """Why the booking is cancelled; on its own for the bulk action, with a booking for the page."""

    submit_variant = "danger"

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


class CancelForm(CancelChoiceForm, BookingActionForm):
    title = "Cancel booking"
    description = "The seat is released at once. The booking stays in the list, cancelled, with its history."
    submit_label = "Cancel booking"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.booking.holds_seat:
            until = timezone.localtime(services.free_cancellation_until(self.booking.session))
            policy = services.cancellation_policy(self.booking.session)
            self.fields["override_policy"].help_text = format_html(
                "Free cancellation under the {} policy ends {}. "
                "Tick to cancel a student's booking after that; the override is kept in the history.",
                policy,
                f"{until:%a %d %b %H:%M}",
            )

    @classmethod
    def offered_for(cls, booking: Booking) -> bool:
        return booking.can_cancel(timezone.now())

    def perform(self, actor: Any) -> Booking:
        return services.cancel(
            self.booking,
            reason=self.cleaned_data["reason"],
            override_policy=self.cleaned_data["override_policy"],
            note=self.cleaned_data["note"],
            actor=actor,
        )

    def success_message(self, result: Booking) -> str:
        return f"Booking {result.reference} cancelled ({result.get_cancel_reason_display().lower()})."


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
    def offered_for(cls, booking: Booking) -> bool:
        return booking.can_reschedule(timezone.now())

    def perform(self, actor: Any) -> Booking:
        return services.reschedule(self.booking, to_session=self.cleaned_data["to_session"], actor=actor)

    def success_message(self, result: Booking) -> str:
        return f"Booking {self.booking.reference} moved to {result.session}: the new booking is {result.reference}."


class NoShowForm(BookingActionForm):
    title = "Mark as no-show"
    description = "The student did not come. The seat count of the session is released."
    submit_label = "Mark as no-show"
    submit_variant = "danger"

    @classmethod
    def offered_for(cls, booking: Booking) -> bool:
        return booking.can_mark_no_show(timezone.now())

    def perform(self, actor: Any) -> Booking:
        return services.mark_no_show(self.booking, actor=actor)

    def success_message(self, result: Booking) -> str:
        return f"Booking {result.reference} marked as a no-show."


class CompleteForm(BookingActionForm):
    title = "Complete booking"
    description = "The student sat the session. Recording a result completes a booking too."
    submit_label = "Complete"

    @classmethod
    def offered_for(cls, booking: Booking) -> bool:
        return booking.can_complete(timezone.now())

    def perform(self, actor: Any) -> Booking:
        return services.complete(self.booking, actor=actor)

    def success_message(self, result: Booking) -> str:
        return f"Booking {result.reference} completed."
