"""The admin index: KPI cards, charts and the next sessions, for the people who run the centre.

Unfold calls ``dashboard_callback`` (settings.UNFOLD["DASHBOARD_CALLBACK"]) for the index page.
The figures come cached from ``bookings.reports``; this module only turns them into what
templates/admin/index.html shows: formatted values, links to the filtered admin lists, chart data.
Revenue is shown only to people who may see payments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from bookings.admin.base import money, sees_own_only
from bookings.models import SessionStatus
from bookings.reports import Figures, PaymentFigures, Ratio, dashboard_figures, local_midnight, payment_figures
from bookings.selectors import seats_before_start
from bookings.templatetags.seats import seats_html

PRIMARY = "var(--color-primary-600)"
PRIMARY_LIGHT = "var(--color-primary-300)"


@dataclass(frozen=True)
class Card:
    title: str
    value: str
    detail: str
    icon: str
    href: str = ""
    progress: str = ""  # a percentage drawn as a bar under the value ("0" draws an empty bar)


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    if sees_own_only(request.user):
        from backoffice.workspace import workspace_context

        context.update(workspace_context(request))
        context["workspace"] = True
        return context

    figures = dashboard_figures()
    show_revenue = request.user.has_perm("bookings.view_payment")
    links = Links(request)
    context.update(
        {
            "title": "Dashboard",
            "cards": cards(figures, links, show_revenue=show_revenue)
            + (payment_cards(payment_figures(), links) if show_revenue else []),
            "bookings_chart": json.dumps(bookings_chart(figures)),
            "revenue_chart": json.dumps(revenue_chart(figures)) if show_revenue else "",
            "fill_chart": json.dumps(fill_chart(figures)),
            "has_products": bool(figures.fill_by_product),
            "next_sessions": next_sessions_table(figures, links),
            "computed_at": timezone.localtime(figures.computed_at),
        }
    )
    return context


# --- Cards -------------------------------------------------------------------------------------


class Links:
    """URLs of the filtered admin lists the cards lead to; none where the person may not look."""

    def __init__(self, request: HttpRequest) -> None:
        self.user = request.user

    def changelist(self, model: str, **params: Any) -> str:
        if not self.user.has_perm(f"bookings.view_{model}"):
            return ""
        url = reverse(f"admin:bookings_{model}_changelist")
        return f"{url}?{urlencode(params)}" if params else url

    def session(self, session_id: int) -> str:
        if not self.user.has_perm("bookings.view_session"):
            return ""
        return reverse("admin:bookings_session_change", args=[session_id])


# Sessions that count in the figures: not cancelled (the admin splits ``__in`` values on commas).
LIVE = {"status__in": "open,closed"}


def day_params(field: str, day: date) -> dict[str, int]:
    """The admin's date drill-down (``date_hierarchy``) for one local day."""
    return {f"{field}__year": day.year, f"{field}__month": day.month, f"{field}__day": day.day}


def iso(moment: datetime) -> str:
    """A time for a list filter in the URL, in local time as people read it."""
    return timezone.localtime(moment).isoformat(timespec="seconds")


def percent(ratio: Ratio) -> str:
    return "—" if ratio.percent is None else f"{ratio.percent:g}%"


def bar(ratio: Ratio) -> str:
    return "" if ratio.percent is None else f"{min(ratio.percent, 100):g}"


def cards(figures: Figures, links: Links, *, show_revenue: bool) -> list[Card]:
    today = figures.today
    currency = settings.DEFAULT_CURRENCY
    result = [
        Card(
            "Sessions today",
            f"{figures.sessions_today:,}",
            f"{today:%A %d %B}",
            "event",
            links.changelist("session", **LIVE, **day_params("starts_at", today)),
        ),
        Card(
            "Seats filled today",
            f"{figures.seats_today.part:,} of {figures.seats_today.whole:,}",
            f"{percent(figures.seats_today)} of today's seats",
            "event_seat",
            links.changelist("session", **LIVE, **day_params("starts_at", today)),
            progress=bar(figures.seats_today),
        ),
        Card(
            "Bookings today",
            f"{figures.bookings_today:,}",
            "made since midnight",
            "confirmation_number",
            links.changelist("booking", **day_params("created_at", today)),
        ),
        Card(
            "Pending payments",
            f"{figures.pending:,}",
            f"{money(figures.pending_due, currency)} due",
            "hourglass_top",
            links.changelist("booking", status__exact="pending"),
        ),
        Card(
            "Expiring within 1 hour",
            f"{figures.expiring:,}",
            "unpaid bookings about to lose their seat",
            "timer",
            links.changelist("booking", status__exact="pending", expires_at__lte=iso(figures.expiring_before)),
        ),
    ]
    if show_revenue:
        result.append(
            Card(
                "Revenue this month",
                money(figures.revenue_month, currency),
                f"paid less refunded since {figures.month_start:%d %B}",
                "payments",
                links.changelist(
                    "payment",
                    status__exact="paid",
                    performed_at__gte=iso(local_midnight(figures.month_start)),
                ),
            )
        )
    result += [
        Card(
            "Fill rate, next 7 days",
            percent(figures.fill_week),
            f"{figures.fill_week.part:,} of {figures.fill_week.whole:,} seats taken",
            "donut_large",
            links.changelist(
                "session",
                **LIVE,
                starts_at__gte=iso(figures.computed_at),
                starts_at__lt=iso(figures.fill_week_end),
            ),
            progress=bar(figures.fill_week),
        ),
        Card(
            "No-show rate, last 30 days",
            percent(figures.no_show),
            f"{figures.no_show.part:,} of {figures.no_show.whole:,} attended or missed",
            "person_off",
            links.changelist("booking", status__exact="no_show"),
        ),
    ]
    return result


def payment_cards(figures: PaymentFigures, links: Links) -> list[Card]:
    """Online money in today, and the refunds staff still owe students (README "Payments")."""
    currency = settings.DEFAULT_CURRENCY
    start = local_midnight(figures.today)
    by_provider = " · ".join(
        f"{provider.title()} {total.count:,} ({money(total.amount, currency)})"
        for provider, total in figures.online_today.items()
    )
    return [
        Card(
            "Online payments today",
            f"{figures.online_count:,} · {money(figures.online_amount, currency)}",
            by_provider,
            "contactless",
            links.changelist(
                "payment",
                provider__in="click,payme",
                status__in="paid,refunded",
                performed_at__gte=iso(start),
                performed_at__lt=iso(local_midnight(figures.today + timedelta(days=1))),
            ),
        ),
        Card(
            "Refunds due",
            f"{figures.refunds_due:,}",
            f"{figures.flagged_bookings:,} booking(s) flagged · {figures.refunds_requested:,} asked of a provider",
            "undo",
            links.changelist("payment", refund="due"),
        ),
    ]


# --- Charts (Chart.js data for unfold's chart components) --------------------------------------

# Unfold's chart options read these from the datasets: y-axis labels on, about one day label in three.
AXES = {"displayYAxis": True, "maxTicksXLimit": 10}
# Unfold draws bars 4 px wide and on top of each other; these two charts read better as columns.
COLUMNS = {"maxBarThickness": 14, "borderRadius": 4}
SIDE_BY_SIDE = {"grouped": True, "maxBarThickness": 28, "barPercentage": 0.8, "borderRadius": 4}
MILLION = Decimal(1_000_000)


def day_labels(days: list[date]) -> list[str]:
    return [f"{day:%d %b}" for day in days]


def bookings_chart(figures: Figures) -> dict[str, Any]:
    days, counts = zip(*figures.bookings_per_day, strict=True) if figures.bookings_per_day else ((), ())
    return {
        "labels": day_labels(list(days)),
        "datasets": [{"label": "Bookings", "data": list(counts), "backgroundColor": PRIMARY, **AXES, **COLUMNS}],
    }


def revenue_chart(figures: Figures) -> dict[str, Any]:
    days, amounts = zip(*figures.revenue_per_day, strict=True) if figures.revenue_per_day else ((), ())
    return {
        "labels": day_labels(list(days)),
        "datasets": [
            {
                "label": f"Revenue (million {settings.DEFAULT_CURRENCY})",
                "data": [float(round(amount / MILLION, 2)) for amount in amounts],
                "suffixYAxis": "M",
                "borderColor": PRIMARY,
                "backgroundColor": PRIMARY,
                **AXES,
            }
        ],
    }


def fill_chart(figures: Figures) -> dict[str, Any]:
    products = figures.fill_by_product
    return {
        "labels": [product.name for product in products],
        "datasets": [
            {
                "label": "Next 7 days",
                "data": [p.week.percent or 0 for p in products],
                "backgroundColor": PRIMARY,
                "suffixYAxis": "%",
                "displayYAxis": True,
                **SIDE_BY_SIDE,
            },
            {
                "label": "Next 30 days",
                "data": [p.month.percent or 0 for p in products],
                "backgroundColor": PRIMARY_LIGHT,
                **SIDE_BY_SIDE,
            },
        ],
    }


# --- Next sessions -----------------------------------------------------------------------------


def next_sessions_table(figures: Figures, links: Links) -> dict[str, Any]:
    """Rows for unfold's table component. The sessions are open and still to start; their seats
    figure (``seats_html``) is the one the realtime client updates from ``slot.updated``."""
    rows = []
    for session in figures.next_sessions:
        href = links.session(session.id)
        label = format_html('<a class="text-primary-600" href="{}">{}</a>', href, session.label) if href else ""
        rows.append(
            [
                f"{timezone.localtime(session.starts_at):%a %d %b, %H:%M}",
                label or session.label,
                session.tutor or "—",
                session.room or "—",
                seats_html(
                    session.id,
                    seats_before_start(
                        status=SessionStatus.OPEN, capacity=session.capacity, seats_taken=session.seats_taken
                    ),
                ),
            ]
        )
    return {"headers": ["Starts", "Session", "Tutor", "Room", "Seats"], "rows": rows}
