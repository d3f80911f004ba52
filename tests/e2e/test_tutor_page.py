"""A tutor's page in a real browser: the availability table fits its box (issue 14)."""

from __future__ import annotations

import datetime

import pytest

from bookings.models import Availability
from tests.factories import ManagerFactory, ProductFactory, TutorFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_weekly_availability_table_fits_its_box_with_every_column_visible(page, login, shot):
    tutor = TutorFactory()
    product = ProductFactory(name="General English one-to-one lesson (60 minutes)")
    for weekday in range(3):
        Availability.objects.create(
            tutor=tutor,
            weekday=weekday,
            start_time=datetime.time(9),
            end_time=datetime.time(17),
            product=product,
            valid_from=datetime.date(2026, 1, 1),
            valid_until=datetime.date(2027, 6, 30),
        )
    login(ManagerFactory())

    page.goto(f"/admin/bookings/tutor/{tutor.pk}/change/")
    shot(page, "tutor-availability")

    table = page.locator("table").filter(has=page.locator("[name$='-weekday']")).first
    widths = table.evaluate(
        "t => { const box = t.closest('fieldset, .inline-group, [id$=-group]') || t.parentElement;"
        " return {table: t.getBoundingClientRect().right, box: box.getBoundingClientRect().right,"
        " scroll: t.parentElement.scrollWidth, client: t.parentElement.clientWidth}; }"
    )
    assert widths["table"] <= widths["box"] + 1, widths
    assert widths["scroll"] <= widths["client"] + 1, widths
    for name in ("weekday", "product", "valid_until"):
        assert page.locator(f"[name$='-0-{name}']").first.is_visible(), name
    delete = table.locator("td.delete").first
    assert delete.is_visible()
    assert delete.bounding_box()["x"] + delete.bounding_box()["width"] <= widths["box"] + 1
    assert page.locator("[name$='-0-start_time']").first.input_value() == "09:00"  # as the centre writes times
