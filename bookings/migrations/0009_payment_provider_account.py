# Payme's GetStatement must answer each transaction with the account CreateTransaction gave it; a
# reschedule moves a payment to the new booking, so the reference it was started with is stored on
# the payment. Existing online attempts get it from their "payment.started" history row, written on
# the booking they were started for (what bookings.payments.core.attempt_of read until now).

from __future__ import annotations

from django.db import migrations, models

BATCH = 1000


def fill_provider_account(apps, schema_editor) -> None:
    BookingEvent = apps.get_model("bookings", "BookingEvent")
    Payment = apps.get_model("bookings", "Payment")
    started: dict[int, str] = {}
    events = (
        BookingEvent.objects.filter(action="payment.started")
        .order_by("pk")
        .values_list("data__payment", "booking__reference")
    )
    for payment_id, reference in events.iterator(chunk_size=BATCH):
        if isinstance(payment_id, int):
            started.setdefault(payment_id, reference)
    ids = sorted(started)
    for start in range(0, len(ids), BATCH):
        payments = list(Payment.objects.filter(pk__in=ids[start : start + BATCH]).only("pk"))
        for payment in payments:
            payment.provider_account = started[payment.pk]
        Payment.objects.bulk_update(payments, ["provider_account"])


class Migration(migrations.Migration):
    dependencies = [("bookings", "0008_move_rescheduled_payments")]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="provider_account",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The booking reference the provider's transaction was started with.",
                max_length=64,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(fill_provider_account, migrations.RunPython.noop),
    ]
