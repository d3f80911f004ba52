"""The dashboard's payment cards: online payments today (Click and Payme) and refunds due, each
leading to exactly those payments, cached with the other figures and shown to whom may see payments."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.urls import reverse

from bookings import services
from bookings.models import Payment
from bookings.reports import ProviderTotal, compute_payment_figures, payment_figures
from tests.factories import ManagerFactory, OperatorFactory, SessionFactory, StudentFactory

pytestmark = pytest.mark.django_db

TASHKENT = ZoneInfo("Asia/Tashkent")
NOW = datetime(2025, 3, 15, 12, 0, tzinfo=TASHKENT)


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def paid(provider: str, when: datetime, *, txn: str, amount: str = "350000") -> Payment:
    with time_machine.travel(when, tick=False):
        booking = services.book(session=SessionFactory(starts_at=NOW + timedelta(days=3)), student=StudentFactory())
        return services.record_payment(booking, provider=provider, amount=amount, provider_txn_id=txn)


@pytest.fixture
def centre():
    """Online money today and yesterday (local days), cash today, a Payme refund asked, a flagged booking."""
    today = [
        paid("click", datetime(2025, 3, 15, 0, 30, tzinfo=TASHKENT), txn="C1"),  # the 14th in UTC
        paid("click", datetime(2025, 3, 15, 9, 0, tzinfo=TASHKENT), txn="C2", amount="150000"),
        paid("payme", datetime(2025, 3, 15, 10, 0, tzinfo=TASHKENT), txn="P1"),
    ]
    paid("payme", datetime(2025, 3, 14, 23, 59, tzinfo=TASHKENT), txn="P0")  # yesterday
    paid("cash", datetime(2025, 3, 15, 11, 0, tzinfo=TASHKENT), txn=None)
    refunded = paid("payme", datetime(2025, 3, 15, 11, 30, tzinfo=TASHKENT), txn="P2")
    Payment.objects.filter(pk=refunded.pk).update(provider_state=2)
    with time_machine.travel(NOW, tick=False):
        services.request_payme_refund(Payment.objects.get(pk=refunded.pk), reason="Moved abroad", actor=None)
    session = SessionFactory(capacity=1, starts_at=NOW + timedelta(days=5))
    with time_machine.travel(datetime(2025, 3, 13, 9, 0, tzinfo=TASHKENT), tick=False):
        late = services.book(session=session, student=StudentFactory())
    with time_machine.travel(late.expires_at + timedelta(minutes=1), tick=False):
        services.expire_due()
        services.book(session=session, student=StudentFactory())
        flagged = services.record_payment(late, provider="cash", amount=late.price)
    return {"today": [*today, refunded], "requested": refunded, "flagged": flagged}


def cards_of(client) -> dict:
    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return {card.title: card for card in response.context["cards"]}


def test_it_counts_online_money_in_today_by_provider_and_the_refunds_due(centre):
    with time_machine.travel(NOW, tick=False):
        figures = compute_payment_figures()

    assert figures.online_today == {
        "click": ProviderTotal(2, Decimal("500000")),
        "payme": ProviderTotal(2, Decimal("700000")),  # one of them now waiting for its refund
    }
    assert (figures.online_count, figures.online_amount) == (4, Decimal("1200000"))
    assert (figures.flagged_bookings, figures.refunds_requested, figures.refunds_due) == (1, 1, 2)


def test_the_cards_show_the_figures_and_lead_to_exactly_those_payments(admin_client, centre):
    cards = cards_of(admin_client)

    online = cards["Online payments today"]
    assert online.value == "4 · 1,200,000 UZS"
    assert online.detail == "Click 2 (500,000 UZS) · Payme 2 (700,000 UZS)"
    with time_machine.travel(NOW, tick=False):
        listed = admin_client.get(online.href).context["cl"].result_list
    assert {p.pk for p in listed} == {p.pk for p in centre["today"]}

    due = cards["Refunds due"]
    assert due.value == "2"
    assert due.detail == "1 booking(s) flagged · 1 asked of a provider"
    listed = admin_client.get(due.href).context["cl"].result_list
    assert {p.pk for p in listed} == {centre["requested"].pk, centre["flagged"].pk}


def test_the_figures_are_cached_until_money_moves(
    centre, django_assert_num_queries, django_capture_on_commit_callbacks
):
    with time_machine.travel(NOW, tick=False):
        first = payment_figures()
        with django_assert_num_queries(0):
            assert payment_figures() == first

        with django_capture_on_commit_callbacks(execute=True):
            paid("click", NOW, txn="C3")  # record_payment bumps the dashboard's version after commit
        assert payment_figures().online_today["click"].count == 3


def test_the_cards_are_for_staff_who_may_see_payments(client, centre):
    client.force_login(ManagerFactory())
    assert {"Online payments today", "Refunds due"} <= set(cards_of(client))

    Group.objects.get(name="Operators").permissions.remove(Permission.objects.get(codename="view_payment"))
    client.force_login(OperatorFactory())
    assert not {"Online payments today", "Refunds due"} & set(cards_of(client))
