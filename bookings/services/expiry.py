"""Expiring unpaid bookings, set-based: the expiry sweep.

Each batch is the state machine's expiry (``state_machine.EXPIRE``: the move a single
``cancel(booking, reason="expired")`` makes) applied to many rows at once, so a booking expired by
the sweep gets the same history row, the same ``booking.expired`` event and the same seat release
as one expired by hand.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from bookings.models import Booking, BookingStatus, CancelReason, Payment, PaymentStatus
from bookings.notify_expiry import send_expiry_emails
from bookings.services.transitions import cancel_bookings

# Rows per transaction. A payment landing on a row of the batch waits for its commit and then sees
# the booking expired. On a backlog of 100,000 (bench/expiry_sweep.py) batches of 10,000 took
# 15-25 % longer than 25,000; 50,000 and 100,000 no less.
BATCH_SIZE = 25_000


def money_in_flight(now: datetime) -> Exists:
    """A booking with money on its way: a Payme transaction created and not yet performed (state 1)
    or a Click payment prepared and not yet completed -- a pending Payment whose ``holds_until``
    lies ahead (Payme's ``time`` + 12 h, Click's Prepare + 1 h; bookings.payments.core).

    Such a booking is *not expired* until then, rather than having its ``expires_at`` extended: the
    deadline the student was given stays as it was, and once the attempt ends (performed,
    cancelled, or past the provider's limit) nothing has to be put back -- a Payme cancel leaves
    the booking "pending until its own expiry", and the next sweep takes it if that has passed.
    The partial index ``payment_in_flight`` answers this from a handful of rows.
    """
    attempts = Payment.objects.filter(booking=OuterRef("pk"), status=PaymentStatus.PENDING, holds_until__gt=now)
    return Exists(attempts)


def due(now: datetime) -> QuerySet[Booking]:
    """The bookings a sweep at ``now`` expires: pending, past the deadline, no money in flight."""
    return Booking.objects.filter(~money_in_flight(now), status=BookingStatus.PENDING, expires_at__lte=now)


def expire_due(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Cancel every pending booking whose payment deadline has passed; returns how many.

    Works in batches, each one transaction: take the due rows with their row locks (``SELECT ...
    FOR UPDATE SKIP LOCKED``: two sweepers at once on PostgreSQL split the rows; SQLite's IMMEDIATE
    transactions serialise them), then expire exactly those rows. A payment confirming a booking at
    the same instant either holds the row (the sweep passes it by) or waits for the sweep's commit
    and finds it expired (then the payment re-books a free seat or flags a refund). After each
    batch commits, the students of its bookings get an e-mail (``bookings.notify_expiry``).
    """
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            # In no order: every due row is expired by this run anyway, and sorting them (by id, by
            # deadline) made PostgreSQL find and sort every due row again for each batch.
            locked = due(now).select_for_update(skip_locked=True, of=("self",)).order_by()
            moved = cancel_bookings(locked, reason=CancelReason.EXPIRED, actor=None, now=now, limit=batch_size)
            # Only the rows this batch moved: a second sweep, or a second cluster, mails nobody twice.
            if to_mail := [row.pk for row in moved if row.email]:
                transaction.on_commit(partial(send_expiry_emails, to_mail))
        total += len(moved)
        if len(moved) < batch_size:
            break
    return total
