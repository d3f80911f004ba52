"""The admin dashboard: right figures for a known centre, served from a cache that a committed
booking change invalidates, revenue only for people who may see payments."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bookings import services
from bookings.models import BookingStatus, CancelReason, Payment, PaymentStatus, SessionStatus
from bookings.reports import Ratio, bump_dashboard_version, compute_figures, dashboard_figures
from tests.factories import (
    ManagerFactory,
    OperatorFactory,
    ProductFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
)

pytestmark = pytest.mark.django_db

TASHKENT = ZoneInfo("Asia/Tashkent")
NOW = datetime(2025, 3, 15, 12, 0, tzinfo=TASHKENT)
DASHBOARD_QUERIES = 7  # sessions by product, finished bookings, pending, bookings/day, 2 x revenue/day, next sessions
PAYMENT_QUERIES = 3  # online payments today, flagged bookings, refunds requested (bookings.reports.payment_figures)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=TASHKENT)


def book(session, when: datetime, *, confirm: bool = True):
    with time_machine.travel(when, tick=False):
        booking = services.book(session=session, student=StudentFactory())
        return services.confirm(booking) if confirm else booking


def finish(booking, when: datetime, *, no_show: bool = False):
    with time_machine.travel(when, tick=False):
        return (services.mark_no_show if no_show else services.complete)(booking)


def pay(booking, amount: str, paid: datetime, *, refunded: datetime | None = None) -> Payment:
    # Written straight to the ledger: the figures read payments whichever service wrote them, and
    # refunds have no service yet.
    return Payment.objects.create(
        booking=booking,
        provider="cash",
        amount=Decimal(amount),
        status=PaymentStatus.REFUNDED if refunded else PaymentStatus.PAID,
        refunded_amount=Decimal(amount) if refunded else Decimal(0),
        performed_at=paid,
        cancelled_at=refunded,
        created_at=paid,
    )


@pytest.fixture
def centre():
    """A centre seen at noon on Saturday 15 March 2025 (Tashkent, UTC+5)."""
    exam = ProductFactory(name="IELTS mock", price=Decimal("350000"))
    lesson = ProductFactory(name="Speaking lesson", price=Decimal("150000"))
    s = {
        "old": SessionFactory(product=exam, starts_at=at(2, 1, 10), capacity=10),  # beyond 30 days
        "past": SessionFactory(product=exam, starts_at=at(3, 5, 10), capacity=10),
        "morning": SessionFactory(product=exam, starts_at=at(3, 15, 9), capacity=10),  # today, started
        "afternoon": SessionFactory(product=exam, starts_at=at(3, 15, 15), capacity=10),
        "cancelled": SessionFactory(product=exam, starts_at=at(3, 15, 18), capacity=10, status=SessionStatus.CANCELLED),
        "late": SessionFactory(product=lesson, starts_at=at(3, 15, 23, 30), capacity=1),  # 18:30 UTC: still today
        "after_midnight": SessionFactory(product=lesson, starts_at=at(3, 16, 0, 30), capacity=1),  # UTC 15th
        "week": SessionFactory(product=exam, starts_at=at(3, 20, 10), capacity=20),
        "month": SessionFactory(product=exam, starts_at=at(4, 5, 10), capacity=20),
        "far": SessionFactory(product=exam, starts_at=at(5, 1, 10), capacity=20),
    }
    old = finish(book(s["old"], at(1, 20, 12)), at(2, 1, 10, 5), no_show=True)
    month = [book(s["month"], at(2, 20, 12)) for _ in range(2)]
    past = [book(s["past"], at(3, 1, 12)) for _ in range(3)]
    finish(past[0], at(3, 5, 10, 5))
    finish(past[1], at(3, 5, 10, 5))
    finish(past[2], at(3, 5, 10, 5), no_show=True)
    for _ in range(5):
        book(s["week"], at(3, 10, 12))
    morning = [book(s["morning"], at(3, 14, 12)) for _ in range(2)]
    book(s["week"], at(3, 14, 12, 30), confirm=False)  # its payment window closes at 12:30 today
    book(s["afternoon"], at(3, 14, 23, 30))  # yesterday, local time
    book(s["afternoon"], at(3, 15, 0, 30))  # today, local time (yesterday in UTC)
    unpaid = book(s["afternoon"], at(3, 15, 10), confirm=False)
    book(s["late"], at(3, 15, 11, 30), confirm=False)
    finish(morning[0], at(3, 15, 9, 30))
    finish(morning[1], at(3, 15, 9, 30), no_show=True)

    pay(old, "500000", at(2, 10, 12))  # before the 30 days charted
    pay(month[0], "350000", at(2, 20, 12))
    pay(month[1], "200000", at(2, 25, 12), refunded=at(3, 5, 12))  # paid in February, refunded in March
    pay(past[0], "350000", at(3, 1, 12), refunded=at(3, 10, 12))
    pay(past[1], "150000", at(3, 15, 0, 30))
    pay(unpaid, "100000", at(3, 15, 10, 30))  # part of its price: the booking stays pending
    Payment.objects.create(booking=past[2], provider="payme", amount=Decimal("999999"), created_at=at(3, 15, 11))
    return s


def test_it_computes_every_figure_in_the_centres_local_days(centre):
    with time_machine.travel(NOW, tick=False):
        figures = compute_figures()

    assert figures.today.isoformat() == "2025-03-15"
    assert figures.sessions_today == 3  # morning, afternoon, late; not the cancelled nor after midnight
    # Held seats of today's sessions (afternoon 3, late 1) plus the morning's attended and missed.
    assert figures.seats_today == Ratio(6, 21)
    assert figures.bookings_today == 3
    assert (figures.pending, figures.pending_due, figures.expiring) == (3, Decimal("750000"), 1)
    # From 1 March: +350,000 (later refunded) -200,000 -350,000 (refunds) +150,000 +100,000.
    assert figures.revenue_month == Decimal("50000")
    # Starting in the next 7 days: afternoon 3/10, late 1/1, after midnight 0/1, week 6/20.
    assert figures.fill_week == Ratio(10, 32)
    assert figures.no_show == Ratio(2, 5)  # the morning's and the 5 March's; not February's

    per_day = dict(figures.bookings_per_day)
    assert len(per_day) == 30 and min(per_day).isoformat() == "2025-02-14"
    assert {day.isoformat(): n for day, n in per_day.items() if n} == {
        "2025-02-20": 2,
        "2025-03-01": 3,
        "2025-03-10": 5,
        "2025-03-14": 4,
        "2025-03-15": 3,
    }
    revenue = {day.isoformat(): amount for day, amount in figures.revenue_per_day if amount}
    assert revenue == {
        "2025-02-20": Decimal("350000"),
        "2025-02-25": Decimal("200000"),
        "2025-03-01": Decimal("350000"),
        "2025-03-05": Decimal("-200000"),
        "2025-03-10": Decimal("-350000"),
        "2025-03-15": Decimal("250000"),
    }
    by_product = {p.name: (p.week, p.month) for p in figures.fill_by_product}
    assert by_product == {
        "IELTS mock": (Ratio(9, 30), Ratio(11, 50)),
        "Speaking lesson": (Ratio(1, 2), Ratio(1, 2)),
    }
    assert [s.id for s in figures.next_sessions] == [
        centre[name].pk for name in ("afternoon", "late", "after_midnight", "week", "month", "far")
    ]
    assert [s.seats_left for s in figures.next_sessions][:2] == [7, 0]


def test_it_computes_the_figures_in_a_fixed_number_of_queries(centre, django_assert_num_queries):
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(DASHBOARD_QUERIES):
        compute_figures()


def test_it_shows_an_empty_centre_without_dividing_by_zero(admin_client):
    response = admin_client.get(reverse("admin:index"))

    assert response.status_code == 200
    figures = dashboard_figures()
    assert figures.fill_week.percent is None and figures.no_show.percent is None
    assert "No sessions in the next 30 days." in response.content.decode()


# --- The page --------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [ManagerFactory, OperatorFactory], ids=["manager", "operator"])
def test_it_shows_the_dashboard_to_the_people_who_run_the_centre(client, centre, factory):
    client.force_login(factory())

    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    html = response.content.decode()
    titles = [card.title for card in response.context["cards"]]
    assert titles == [
        "Sessions today",
        "Seats filled today",
        "Bookings today",
        "Pending payments",
        "Expiring within 1 hour",
        "Revenue this month",
        "Fill rate, next 7 days",
        "No-show rate, last 30 days",
        "Online payments today",  # tests/backoffice/test_dashboard_payments.py
        "Refunds due",
    ]
    assert "750,000 UZS due" in html
    assert response.context["cards"][5].value == "50,000 UZS"
    assert "31.2%" in html  # 10 of 32 seats in the next 7 days
    assert html.count('class="chart"') == 3


def test_it_gives_a_tutor_their_workspace_instead(client, centre):
    tutor = TutorFactory()
    client.force_login(tutor.user)

    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert response.context["workspace"] is True
    assert "cards" not in response.context
    assert 'id="dashboard"' not in response.content.decode()


def test_it_hides_revenue_from_staff_who_may_not_see_payments(client, centre):
    # A centre whose operators do not handle money (the group is the role's, so it sticks on login).
    Group.objects.get(name="Operators").permissions.remove(Permission.objects.get(codename="view_payment"))
    client.force_login(OperatorFactory())

    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Revenue" not in html
    assert "Revenue this month" not in [card.title for card in response.context["cards"]]
    assert response.context["revenue_chart"] == ""
    assert html.count('class="chart"') == 2
    assert reverse("admin:bookings_payment_changelist") + "?status__exact=paid" not in html


def test_it_lists_the_next_sessions_with_live_seat_counts_and_links(admin_client, centre):
    with time_machine.travel(NOW, tick=False):
        html = admin_client.get(reverse("admin:index")).content.decode()

    afternoon = centre["afternoon"]
    assert f'data-session-seats="{afternoon.pk}" data-seats-kind="seats">7 of 10 left</span>' in html
    assert reverse("admin:bookings_session_change", args=[afternoon.pk]) in html
    assert f'data-session-seats="{centre["cancelled"].pk}"' not in html
    assert f'data-session-seats="{centre["morning"].pk}"' not in html  # already started


def test_it_links_the_expiring_card_to_exactly_those_bookings(admin_client, centre):
    with time_machine.travel(NOW, tick=False):
        cards = {card.title: card for card in admin_client.get(reverse("admin:index")).context["cards"]}
        response = admin_client.get(cards["Expiring within 1 hour"].href)

    assert response.status_code == 200
    listed = list(response.context["cl"].result_list)
    assert [(b.session_id, b.status) for b in listed] == [(centre["week"].pk, BookingStatus.PENDING)]


@pytest.mark.parametrize(
    ("title", "rows"),
    [
        ("Sessions today", 3),
        ("Bookings today", 3),
        ("Pending payments", 3),
        ("Revenue this month", 2),  # the paid ones; refunded rows are a status filter away
        ("Fill rate, next 7 days", 4),
    ],
)
def test_it_links_each_card_to_a_list_that_opens(admin_client, centre, title, rows):
    with time_machine.travel(NOW, tick=False):
        cards = {card.title: card for card in admin_client.get(reverse("admin:index")).context["cards"]}
        response = admin_client.get(cards[title].href)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == rows


# --- Cache -----------------------------------------------------------------------------------


def index_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:index")).status_code == 200
    return len(queries)


def test_it_serves_the_second_view_from_the_cache(
    admin_client, centre, django_assert_num_queries, django_capture_on_commit_callbacks
):
    with time_machine.travel(NOW, tick=False):
        index_queries(admin_client)  # everything else the page caches (sidebar badges ...) is warm now
        with django_capture_on_commit_callbacks(execute=True):
            bump_dashboard_version()
        cold = index_queries(admin_client)
        warm = index_queries(admin_client)
        with django_assert_num_queries(0):
            dashboard_figures()

    assert cold - warm == DASHBOARD_QUERIES + PAYMENT_QUERIES


def test_it_recomputes_once_a_booking_is_committed(centre, django_capture_on_commit_callbacks):
    with time_machine.travel(NOW, tick=False):
        assert dashboard_figures().bookings_today == 3

        with django_capture_on_commit_callbacks(execute=True):
            services.book(session=centre["week"], student=StudentFactory())

        figures = dashboard_figures()
    assert figures.bookings_today == 4
    assert figures.pending == 4


def test_it_keeps_the_cache_when_a_booking_is_rolled_back(
    centre, django_capture_on_commit_callbacks, django_assert_num_queries
):
    with time_machine.travel(NOW, tick=False):
        dashboard_figures()

        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(RuntimeError), transaction.atomic():
                services.book(session=centre["week"], student=StudentFactory())
                raise RuntimeError("something after the booking failed")

        assert callbacks == []
        with django_assert_num_queries(0):
            assert dashboard_figures().bookings_today == 3


def test_it_recomputes_once_a_cancellation_is_committed(centre, django_capture_on_commit_callbacks):
    with time_machine.travel(NOW, tick=False):
        assert dashboard_figures().seats_today == Ratio(6, 21)
        unpaid = centre["afternoon"].bookings.get(status=BookingStatus.PENDING)

        with django_capture_on_commit_callbacks(execute=True):
            services.cancel(unpaid, reason=CancelReason.STAFF)

        figures = dashboard_figures()
    assert figures.seats_today == Ratio(5, 21)
    assert figures.pending == 2


def test_it_recomputes_once_the_expiry_sweep_is_committed(centre, django_capture_on_commit_callbacks):
    later = NOW + timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        assert dashboard_figures().expiring == 1

        with django_capture_on_commit_callbacks(execute=True):
            assert services.expire_due() == 1

        figures = dashboard_figures()
    assert (figures.pending, figures.expiring) == (2, 0)
