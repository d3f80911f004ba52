"""A booking's history row in words (``BookingEvent.describe``), for people rather than as its JSON.

"session: 107 · source: admin · price: 350000.00" reads "IELTS mock, Wed 09 Dec 2026 14:00 · Back
office · 350,000 UZS · Cash": sessions by product and local time, amounts with their currency,
codes by their labels. Ids of rows people do not look up (payments, reminders) are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from bookings.models.bookings import BookingSource, CancelReason, ConfirmedVia, PaymentMethod
from bookings.models.history import shown_at
from bookings.models.reminders import ReminderChannel

if TYPE_CHECKING:
    from bookings.models.bookings import BookingEvent
    from bookings.models.sessions import Session

# Keys kept for the machines: the row they point at is shown elsewhere on the page, or nowhere.
HIDDEN = frozenset({"payment", "payments", "result", "reminder", "feedback", "tutor", "previous_tutor"})
SOURCES = {**dict(BookingSource.choices), "seed": "Demo data", "import": "Import"}
VIA = {
    **dict(ConfirmedVia.choices),
    "payment": "Paid",
    "result": "Result recorded",
    "ended": "Session ended",
    "staff": "By staff",
    "system": "By the system",
}
SCORES = ("listening", "reading", "writing", "speaking", "overall")


def describe(event: BookingEvent, *, tz: tzinfo | None = None, sessions: Mapping[int, Session] | None = None) -> str:
    """The event's data in words, " · " between its parts; "" when it has none worth showing."""
    data = event.data if isinstance(event.data, dict) else {}
    words = Words(event, tz=tz, sessions=sessions or {})
    # In the words' own order: PostgreSQL's jsonb keeps keys by length, not as they were written.
    order = {key: i for i, key in enumerate(words.spoken)}
    keys = sorted((key for key in data if key not in HIDDEN), key=lambda key: (order.get(key, len(order)), key))
    return " · ".join(part for key in keys if (part := words.part(key, data[key])))


class Words:
    """How each key of a history row's data is said."""

    def __init__(self, event: BookingEvent, *, tz: tzinfo | None, sessions: Mapping[int, Session]) -> None:
        self.event, self.tz, self.sessions = event, tz, sessions
        self.currency = event.booking.currency if event.booking_id else "UZS"
        self.spoken: dict[str, Callable[[Any], str]] = {
            "session": self.session,
            # The new booking's reference ("to") says where it went; its session only when at hand.
            "to_session": lambda pk: f"to {self.session(pk)}" if pk in self.sessions else "",
            "source": lambda code: SOURCES.get(code, str(code)),
            "price": self.money,
            "amount": self.money,
            "payment_method": lambda code: label(PaymentMethod, code),
            "provider": lambda code: label(PaymentMethod, code),
            "providers": lambda names: f"links: {names}",
            "via": lambda code: VIA.get(code, str(code)),
            "reason": lambda code: label(CancelReason, code),
            "note": lambda text: f"“{text}”",
            "rescheduled_from": lambda ref: f"moved from {ref}",
            "to": lambda ref: f"moved to {ref}",
            "from": lambda ref: f"moved from {ref}",
            "holds_until": lambda iso: f"seat held until {self.moment(iso)}",
            "reinstated": lambda yes: "seat given back" if yes else "",
            "full": lambda yes: "full refund" if yes else "part refund",
            "late": lambda yes: "late" if yes else "",
            "policy_overridden": lambda yes: "policy overridden" if yes else "",
            "policy": lambda text: f"policy: {text}",
            "overall": lambda band: f"overall {band}",
            "score": lambda value: f"score {value}",
            "old": self.scores,
            "new": lambda scores: f"now {self.scores(scores)}",
            "channel": lambda code: label(ReminderChannel, code),
            "kind": lambda code: f"({str(code).replace('_', ' ')})",
            "error": lambda text: f"error: {text}",
            "final": lambda yes: "no more attempts" if yes else "",
            "transaction": lambda txn: f"transaction {txn}",
            "email": lambda outcome: f"e-mail: {outcome}",
            "sms": lambda outcome: f"SMS: {outcome}",
        }

    def part(self, key: str, value: Any) -> str:
        if value in (None, "", [], {}):
            return ""
        say = self.spoken.get(key)
        return say(value) if say else f"{key.replace('_', ' ')}: {value}"

    def session(self, pk: Any) -> str:
        session = self.sessions.get(pk)
        booking = self.event.booking if self.event.booking_id else None
        if session is None and booking is not None and booking.session_id == pk:
            session = booking.session
        if session is None:
            return f"session #{pk}"
        return f"{session.product.name}, {shown_at(session.starts_at, self.tz)}"

    def money(self, amount: Any) -> str:
        try:
            return f"{Decimal(str(amount)):,.0f} {self.currency}"
        except InvalidOperation:
            return str(amount)

    def moment(self, iso: Any) -> str:
        try:
            return shown_at(datetime.fromisoformat(str(iso)), self.tz)
        except ValueError:
            return str(iso)

    def scores(self, scores: Any) -> str:
        if not isinstance(scores, dict):
            return str(scores)
        return ", ".join(f"{name} {scores[name]}" for name in SCORES if scores.get(name) not in (None, ""))


def label(choices: Any, code: Any) -> str:
    """A code's label among ``choices`` ("cash" → "Cash"); an unknown code as it is."""
    return str(dict(choices.choices).get(code, code))
