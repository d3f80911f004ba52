"""The dashboard's figures: a few aggregate queries, cached together as one object.

Every figure comes from a set-based query (conditional aggregation, one GROUP BY per chart), each
bounded by a date range or a selective status, so the cost does not grow with years of bookings.
The computed ``Figures`` are cached for a minute under a version key that every committed booking
or seat change replaces (``bump_dashboard_version``), so a booking shows on the dashboard at once
while the queries run at most once a minute however many people keep it open.

Days, "today" and "this month" are days of the centre's TIME_ZONE.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from bookings.models import Booking, BookingStatus, Payment, PaymentProvider, PaymentStatus, Session, SessionStatus
from bookings.selectors import MONEY_TAKEN, paid_amount_expression

CACHE_TTL = 60  # seconds; a change that publishes no booking or slot event shows within this
VERSION_KEY = "dashboard:version"
FIGURES_KEY = "dashboard:figures:1:{version}"  # the 1 changes with the shape of Figures
PAYMENT_FIGURES_KEY = "dashboard:payments:1:{version}"  # ... and this one with PaymentFigures'

CHART_DAYS = 30
NO_SHOW_DAYS = 30
FILL_AHEAD = (7, 30)  # days ahead: the KPI's window and the by-product chart's longer one
EXPIRING_WITHIN = timedelta(hours=1)
NEXT_SESSIONS = 10

ZERO = Decimal(0)
MONEY = DecimalField(max_digits=14, decimal_places=2)


@dataclass(frozen=True)
class Ratio:
    part: int
    whole: int

    @property
    def percent(self) -> float | None:
        """``part / whole`` in percent with one decimal, or None when there is nothing to divide by."""
        return round(100 * self.part / self.whole, 1) if self.whole else None


@dataclass(frozen=True)
class ProductFill:
    name: str
    week: Ratio  # seats taken / capacity of the product's sessions in the next 7 days
    month: Ratio  # ... and in the next 30 days


@dataclass(frozen=True)
class UpcomingSession:
    id: int
    label: str
    tutor: str
    room: str
    starts_at: datetime
    capacity: int
    seats_taken: int

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.seats_taken, 0)


@dataclass(frozen=True)
class Figures:
    computed_at: datetime
    today: date
    month_start: date
    sessions_today: int
    seats_today: Ratio  # seats filled (held, attended or missed) / capacity of today's sessions
    bookings_today: int
    pending: int  # bookings awaiting payment
    pending_due: Decimal  # their prices less what was already paid on them
    expiring: int  # pending bookings whose payment window closes within the hour
    expiring_before: datetime
    revenue_month: Decimal
    fill_week: Ratio  # seats taken / capacity of sessions starting from now until fill_week_end
    fill_week_end: datetime
    no_show: Ratio  # no-shows / (completed + no-shows) of sessions in the last 30 days
    bookings_per_day: list[tuple[date, int]]
    revenue_per_day: list[tuple[date, Decimal]]
    fill_by_product: list[ProductFill]
    next_sessions: list[UpcomingSession]


@dataclass(frozen=True)
class ProviderTotal:
    count: int
    amount: Decimal


@dataclass(frozen=True)
class PaymentFigures:
    """The money side of the dashboard, for people who may see payments (``payment_figures``)."""

    computed_at: datetime
    today: date
    online_today: dict[str, ProviderTotal]  # Click and Payme payments received today, by provider
    flagged_bookings: int  # bookings flagged needs_refund: a late payment kept with no seat for it
    refunds_requested: int  # refunds asked of a provider (Payme's cabinet, a Click reversal) not done yet

    @property
    def online_count(self) -> int:
        return sum(total.count for total in self.online_today.values())

    @property
    def online_amount(self) -> Decimal:
        return sum((total.amount for total in self.online_today.values()), ZERO)

    @property
    def refunds_due(self) -> int:
        return self.flagged_bookings + self.refunds_requested


# --- Cache -------------------------------------------------------------------------------------


def dashboard_figures() -> Figures:
    """The figures of the current version, computed at most once per version and TTL."""
    version = cache.get(VERSION_KEY) or "0"
    key = FIGURES_KEY.format(version=version)
    figures = cache.get(key)
    if figures is None:
        figures = compute_figures()
        cache.set(key, figures, CACHE_TTL)
    return figures


def payment_figures() -> PaymentFigures:
    """The payment figures of the current version, cached like ``dashboard_figures``."""
    version = cache.get(VERSION_KEY) or "0"
    key = PAYMENT_FIGURES_KEY.format(version=version)
    figures = cache.get(key)
    if figures is None:
        figures = compute_payment_figures()
        cache.set(key, figures, CACHE_TTL)
    return figures


def bump_dashboard_version() -> None:
    """Make the next dashboard view recompute, once the current transaction commits.

    After commit, so a rolled-back booking never invalidates and a view that recomputes at once
    sees the change. A new random version (not a counter) cannot collide with figures cached under
    an earlier version even if the cache dropped the version key. ``robust``: a cache that is down
    must not turn a committed booking into an error.
    """
    transaction.on_commit(_new_version, robust=True)


def _new_version() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


# --- Figures -----------------------------------------------------------------------------------


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def compute_figures(*, now: datetime | None = None) -> Figures:
    """All figures from seven queries, whatever the number of bookings."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    today_start = local_midnight(today)
    tomorrow_start = local_midnight(today + timedelta(days=1))
    month_start = today.replace(day=1)
    chart_start = today - timedelta(days=CHART_DAYS - 1)

    sessions = _session_rows(today_start, tomorrow_start, now)
    finished_today, no_show = _finished_bookings(today_start, now)
    pending, pending_due, expiring = _pending(now)
    per_day = _bookings_per_day(chart_start, tomorrow_start)
    revenue = _revenue_per_day(min(month_start, chart_start), tomorrow_start)

    return Figures(
        computed_at=now,
        today=today,
        month_start=month_start,
        sessions_today=sum(row["today"] for row in sessions),
        seats_today=Ratio(
            sum(row["today_taken"] or 0 for row in sessions) + finished_today,
            sum(row["today_capacity"] or 0 for row in sessions),
        ),
        bookings_today=per_day.get(today, 0),
        pending=pending,
        pending_due=pending_due,
        expiring=expiring,
        expiring_before=now + EXPIRING_WITHIN,
        revenue_month=sum((amount for day, amount in revenue.items() if day >= month_start), ZERO),
        fill_week=Ratio(
            sum(row["week_taken"] or 0 for row in sessions),
            sum(row["week_capacity"] or 0 for row in sessions),
        ),
        fill_week_end=now + timedelta(days=FILL_AHEAD[0]),
        no_show=no_show,
        bookings_per_day=[(day, per_day.get(day, 0)) for day in _days(chart_start, today)],
        revenue_per_day=[(day, revenue.get(day, ZERO)) for day in _days(chart_start, today)],
        fill_by_product=[
            ProductFill(
                row["product__name"],
                week=Ratio(row["week_taken"] or 0, row["week_capacity"] or 0),
                month=Ratio(row["month_taken"] or 0, row["month_capacity"] or 0),
            )
            for row in sessions
            if row["month_capacity"]
        ],
        next_sessions=_next_sessions(now),
    )


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _session_rows(today_start: datetime, tomorrow_start: datetime, now: datetime) -> list[dict]:
    """Per product: today's sessions and seats, and seats ahead in the fill windows.

    Only sessions still to start count towards the fill windows: a booking that is completed or
    missed no longer holds its seat, so ``seats_taken`` of a past session says nothing of how full
    it was (``_finished_bookings`` adds those back for today).
    """
    week_end, month_end = (now + timedelta(days=days) for days in FILL_AHEAD)
    is_today = Q(starts_at__gte=today_start, starts_at__lt=tomorrow_start)
    week = Q(starts_at__gte=now, starts_at__lt=week_end)
    month = Q(starts_at__gte=now, starts_at__lt=month_end)
    return list(
        Session.objects.filter(starts_at__gte=today_start, starts_at__lt=max(tomorrow_start, month_end))
        .exclude(status=SessionStatus.CANCELLED)
        .values("product_id", "product__name")
        .annotate(
            today=Count("pk", filter=is_today),
            today_taken=Sum("seats_taken", filter=is_today),
            today_capacity=Sum("capacity", filter=is_today),
            week_taken=Sum("seats_taken", filter=week),
            week_capacity=Sum("capacity", filter=week),
            month_taken=Sum("seats_taken", filter=month),
            month_capacity=Sum("capacity", filter=month),
        )
        .order_by("product__name", "product_id")
    )


def _finished_bookings(today_start: datetime, now: datetime) -> tuple[int, Ratio]:
    """Completed and no-show bookings of sessions started in the last 30 days (and of today's).

    Counts the status column, not the id: the (session, status) index then answers alone (an
    index-only nested loop over the month's sessions) instead of a scan of every booking.
    """
    row = Booking.objects.filter(
        session__starts_at__gte=now - timedelta(days=NO_SHOW_DAYS),
        session__starts_at__lt=now,
        status__in=(BookingStatus.COMPLETED, BookingStatus.NO_SHOW),
    ).aggregate(
        finished=Count("status"),
        no_show=Count("status", filter=Q(status=BookingStatus.NO_SHOW)),
        today=Count("status", filter=Q(session__starts_at__gte=today_start)),
    )
    return row["today"], Ratio(row["no_show"], row["finished"])


def _pending(now: datetime) -> tuple[int, Decimal, int]:
    """Pending bookings: how many, the money still due on them, how many expire within the hour."""
    row = Booking.objects.filter(status=BookingStatus.PENDING).aggregate(
        count=Count("pk"),
        price=Coalesce(Sum("price"), Value(ZERO), output_field=MONEY),
        paid=Coalesce(Sum(paid_amount_expression()), Value(ZERO), output_field=MONEY),
        expiring=Count("pk", filter=Q(expires_at__lte=now + EXPIRING_WITHIN)),
    )
    return row["count"], max(row["price"] - row["paid"], ZERO), row["expiring"]


def _per_day(queryset: QuerySet, field: str, value: Count | Sum) -> dict[date, int | Decimal]:
    rows = (
        queryset.annotate(day=TruncDate(field, tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(value=value)
        .order_by("day")
    )
    return {row["day"]: row["value"] for row in rows}


def _bookings_per_day(first: date, end: datetime) -> dict[date, int]:
    """Bookings made per local day, whatever became of them (``COUNT(*)``: an index-only scan of created_at)."""
    return _per_day(
        Booking.objects.filter(created_at__gte=local_midnight(first), created_at__lt=end), "created_at", Count("*")
    )


def _revenue_per_day(first: date, end: datetime) -> dict[date, Decimal]:
    """Money received per local day (by when it was paid) less money refunded that day.

    A refunded payment keeps its row with status ``refunded``: it counts as received on the day it
    was paid and is taken off on the day it was refunded (``cancelled_at``), so a refund in a
    later month lowers that month's revenue and the month it was paid keeps its figure.
    """
    start = local_midnight(first)
    received = _per_day(
        Payment.objects.filter(
            status__in=(PaymentStatus.PAID, PaymentStatus.REFUNDED), performed_at__gte=start, performed_at__lt=end
        ),
        "performed_at",
        Sum("amount"),
    )
    refunded = _per_day(
        Payment.objects.filter(status=PaymentStatus.REFUNDED)
        .alias(refunded_at=Coalesce("cancelled_at", "performed_at"))
        .filter(refunded_at__gte=start, refunded_at__lt=end),
        "refunded_at",
        Sum("refunded_amount"),  # a partial refund takes off only what was returned
    )
    return {day: received.get(day, ZERO) - refunded.get(day, ZERO) for day in received.keys() | refunded.keys()}


def compute_payment_figures(*, now: datetime | None = None) -> PaymentFigures:
    """Online money in today and refunds due, in three small queries each answered by a partial index."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    received = (
        Payment.objects.filter(
            status__in=MONEY_TAKEN,
            performed_at__gte=local_midnight(today),
            performed_at__lt=local_midnight(today + timedelta(days=1)),
            provider__in=(PaymentProvider.CLICK, PaymentProvider.PAYME),
        )
        .values("provider")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by("provider")
    )
    online = {provider: ProviderTotal(0, ZERO) for provider in (PaymentProvider.CLICK, PaymentProvider.PAYME)}
    for row in received:
        online[row["provider"]] = ProviderTotal(row["count"], row["amount"])
    return PaymentFigures(
        computed_at=now,
        today=today,
        online_today={str(provider): total for provider, total in online.items()},
        flagged_bookings=Booking.objects.filter(needs_refund=True).count(),
        refunds_requested=Payment.objects.filter(refund_requested_at__isnull=False, status=PaymentStatus.PAID).count(),
    )


def _next_sessions(now: datetime) -> list[UpcomingSession]:
    sessions = (
        Session.objects.filter(status=SessionStatus.OPEN, starts_at__gt=now)
        .select_related("product", "tutor__user")
        .order_by("starts_at", "id")[:NEXT_SESSIONS]
    )
    return [
        UpcomingSession(
            id=session.pk,
            label=session.product.name,
            tutor=str(session.tutor) if session.tutor_id else "",
            room=session.room,
            starts_at=session.starts_at,
            capacity=session.capacity,
            seats_taken=session.seats_taken,
        )
        for session in sessions
    ]
