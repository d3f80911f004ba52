"""A list page makes no failed template lookup on its ModelAdmin: each costs a ``dir()`` of the admin
(Django's template engine tells a missing attribute from a broken property that way), and unfold's
list templates ask for ``list_sections`` twice a row (backoffice.admin_lists.ModelAdmin)."""

from __future__ import annotations

import sys

import django.template.base as template_base
import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin as DjangoModelAdmin
from unfold.admin import ModelAdmin as UnfoldModelAdmin

from backoffice.admin_lists import ModelAdmin
from tests.factories import ManagerFactory, SessionFactory, confirmed_booking


def test_every_unfold_admin_of_the_site_derives_from_the_projects():
    ours = [type(model_admin) for model_admin in admin.site._registry.values()]
    unfold_only = [
        cls.__name__ for cls in ours if issubclass(cls, UnfoldModelAdmin) and not issubclass(cls, ModelAdmin)
    ]
    assert unfold_only == []
    assert all(issubclass(cls, DjangoModelAdmin) for cls in ours)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/admin/bookings/booking/", "/admin/bookings/session/", "/admin/bookings/payment/", "session {pk}"]
)
def test_a_page_looks_up_nothing_its_admin_lacks(client, monkeypatch, url):
    for _ in range(3):
        booking = confirmed_booking(session=SessionFactory())
    url = f"/admin/bookings/session/{booking.session_id}/change/" if url == "session {pk}" else url
    client.force_login(ManagerFactory())
    failed: list[tuple[str, str]] = []

    def spy(value):
        frame = sys._getframe(1)
        failed.append((type(value).__name__, frame.f_locals.get("bit")))
        return dir(value)

    monkeypatch.setattr(template_base, "dir", spy, raising=False)
    response = client.get(url)

    assert response.status_code == 200
    assert [(kind, bit) for kind, bit in failed if kind.endswith("Admin")] == []
