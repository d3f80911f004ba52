"""A list written with the class aliases (backoffice/lean.py) looks exactly as it does with unfold's
own classes: the same pixels, in the light and the dark theme, with a row's box ticked (issue 14).

The page is loaded as served; the browser then puts unfold's class lists back in place of every
alias and drops the aliases' stylesheet, and both states are photographed."""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import expect

from backoffice import lean
from bookings import services
from tests.e2e.conftest import SCREENSHOTS
from tests.factories import ManagerFactory, SessionFactory, StudentFactory, TutorFactory, confirmed_booking

pytestmark = pytest.mark.django_db(transaction=True)

UNDO_ALIASES = """(aliases) => {
    document.querySelectorAll('link[href*="backoffice/lean.css"]').forEach((link) => link.remove());
    for (const [alias, classes] of Object.entries(aliases)) {
        document.querySelectorAll('.' + alias).forEach((element) => {
            element.classList.remove(alias);
            element.classList.add(...classes);
        });
    }
    return document.querySelectorAll('[class*="sd-"]').length;
}"""


def aliases() -> dict[str, list[str]]:
    every = {**lean.ALIASES, **lean.OWN_ALIASES, **lean.FRAGMENT_ALIASES}
    return {alias: list(classes) for alias, classes in every.items()}


# Chromium antialiases the list box's rounded bottom corners one shade apart from one paint to the
# next (16 pixels of the tutors list, each channel off by one): anything more is a difference.
SHADES = 2


def photograph(page, name: str) -> Image.Image:
    path = SCREENSHOTS / f"{name}.png"
    page.locator("#result_list").screenshot(path=str(path), animations="disabled")
    return Image.open(path).convert("RGB")


def largest_difference(first: Image.Image, second: Image.Image) -> int:
    """The largest difference of any channel of any pixel (both images the same size)."""
    assert first.size == second.size, (first.size, second.size)
    return max(high for _low, high in ImageChops.difference(first, second).getextrema())


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("url", ["/admin/bookings/booking/", "/admin/bookings/tutor/"])
def test_a_list_looks_the_same_with_the_aliases_as_with_unfolds_classes(page, login, url, theme):
    SCREENSHOTS.mkdir(exist_ok=True)
    services.book(session=SessionFactory(tutor=TutorFactory()), student=StudentFactory())
    confirmed_booking()
    login(ManagerFactory())

    page.goto(url)
    if theme == "dark":
        page.evaluate("document.documentElement.classList.add('dark')")
    page.locator("#result_list input.action-select").first.check()
    page.mouse.move(0, 0)
    name = f"lean-{url.strip('/').replace('/', '-')}-{theme}"
    expect(page.locator("#result_list .sd-cell").first).to_be_visible()

    served = photograph(page, f"{name}-aliases")
    assert page.evaluate(UNDO_ALIASES, aliases()) == 0  # every alias undone
    unfolds = photograph(page, f"{name}-unfold")

    difference = largest_difference(served, unfolds)
    assert difference <= SHADES, f"the list differs from unfold's own ({difference}): see {name}-*.png in {SCREENSHOTS}"


def test_the_tutor_filter_is_a_drop_down_applied_with_the_other_filters(page, login, shot):
    """One <select> instead of a link per tutor (55 KB of every list at 160 tutors)."""
    james, aziza = TutorFactory(user__first_name="James"), TutorFactory(user__first_name="Aziza")
    his = services.book(session=SessionFactory(tutor=james), student=StudentFactory())
    hers = services.book(session=SessionFactory(tutor=aziza), student=StudentFactory())
    login(ManagerFactory())

    page.goto("/admin/bookings/booking/")
    page.locator("a.filter-open-button").click()
    page.locator("select[name=tutor]").select_option(str(james.pk))
    shot(page, "lean-tutor-filter-drop-down")
    page.get_by_role("button", name="Apply Filters").click()

    page.wait_for_url(f"**tutor={james.pk}**")
    expect(page.locator("#result_list")).to_contain_text(his.reference)
    expect(page.locator("#result_list")).not_to_contain_text(hers.reference)
