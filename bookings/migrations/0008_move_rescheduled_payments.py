# Issue 13: one payment belongs to one live booking. Until now a reschedule left the payments on the
# cancelled booking and "paid" followed the reschedule chain back; now a reschedule moves them to the
# new booking (bookings.services.payments.move_payments). This moves the payments existing rows left
# behind to the live end of their chain, and writes "payment.moved" in both histories.

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import migrations

BATCH = 1000
MONEY_TAKEN = ("paid", "refunded")  # bookings.selectors.MONEY_TAKEN, frozen here as of this migration


def live_end(booking_id: int, moved_to: dict[int, int]) -> int:
    """The booking at the end of the reschedule chain from ``booking_id`` (``moved_to``: old -> new)."""
    seen = {booking_id}
    while booking_id in moved_to and moved_to[booking_id] not in seen:
        booking_id = moved_to[booking_id]
        seen.add(booking_id)
    return booking_id


def move_payments(apps, schema_editor) -> None:
    Booking = apps.get_model("bookings", "Booking")
    BookingEvent = apps.get_model("bookings", "BookingEvent")
    Payment = apps.get_model("bookings", "Payment")
    # Every reschedule, old -> new: only rescheduled bookings, a small share of the table.
    moved_to = dict(Booking.objects.filter(rescheduled_from__isnull=False).values_list("rescheduled_from_id", "pk"))
    olds = sorted(moved_to)
    for start in range(0, len(olds), BATCH):
        chunk = olds[start : start + BATCH]
        cancelled = dict(Booking.objects.filter(pk__in=chunk).values_list("pk", "cancelled_at"))
        # The money each old booking had when it was rescheduled. A payment recorded on it after
        # that (money that came too late, flagged for refund) stays where it landed.
        found: dict[int, list] = defaultdict(list)
        for payment in Payment.objects.filter(booking_id__in=chunk).order_by("pk"):
            cancelled_at = cancelled[payment.booking_id]
            if cancelled_at is None or payment.created_at <= cancelled_at:
                found[payment.booking_id].append(payment)
        targets = {old_id: live_end(old_id, moved_to) for old_id in found}
        references = dict(Booking.objects.filter(pk__in={*targets, *targets.values()}).values_list("pk", "reference"))
        events = []
        for old_id, payments in found.items():
            new_id = targets[old_id]
            ids = [payment.pk for payment in payments]
            Payment.objects.filter(pk__in=ids).update(booking_id=new_id)
            kept = sum((p.amount - p.refunded_amount for p in payments if p.status in MONEY_TAKEN), Decimal(0))
            data = {"payments": ids, "amount": f"{kept:.2f}", "migration": True}
            events += [
                BookingEvent(booking_id=old_id, action="payment.moved", data={**data, "to": references[new_id]}),
                BookingEvent(booking_id=new_id, action="payment.moved", data={**data, "from": references[old_id]}),
            ]
        BookingEvent.objects.bulk_create(events, batch_size=BATCH)


def move_back(apps, schema_editor) -> None:
    """Undo: each payment back on the booking it was moved from, and the history rows written here gone."""
    BookingEvent = apps.get_model("bookings", "BookingEvent")
    Payment = apps.get_model("bookings", "Payment")
    written = BookingEvent.objects.filter(action="payment.moved", data__migration=True)
    for event in written.filter(data__has_key="to").iterator(chunk_size=BATCH):
        Payment.objects.filter(pk__in=event.data["payments"]).update(booking_id=event.booking_id)
    written.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0007_session_events"),
    ]

    operations = [
        migrations.RunPython(move_payments, move_back, elidable=True),
    ]
