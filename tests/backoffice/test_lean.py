"""The leaner list pages (backoffice/lean.py, issue 14): unfold's repeated class lists as aliases whose
rules are unfold's own, indentation dropped, nothing else changed. tests/e2e/test_lean_lists.py
shows in a browser that a list looks the same with the aliases as with unfold's classes."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
from django.core.management import call_command
from django.templatetags.static import static
from django.utils.html import escape
from unfold.templatetags.unfold_list import TABLE_CELL_CLASSES
from unfold.widgets import CHECKBOX_CLASSES

from backoffice import lean
from bookings import services
from tests.factories import ManagerFactory, SessionFactory, StudentFactory, confirmed_booking


def test_the_committed_stylesheet_is_made_from_the_installed_unfold():
    """After an upgrade of django-unfold: ``manage.py lean_stylesheet``, then look at the lists."""
    assert lean.STYLESHEET.read_text() == lean.stylesheet(), "run: manage.py lean_stylesheet"


def test_the_command_writes_the_stylesheet(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("backoffice.management.commands.lean_stylesheet.STYLESHEET", tmp_path / "lean.css")
    call_command("lean_stylesheet")
    assert (tmp_path / "lean.css").read_text() == lean.stylesheet()
    assert "rules" in capsys.readouterr().out


def test_every_alias_carries_unfolds_rules_for_every_class_it_stands_for():
    css = lean.stylesheet()
    every = {**lean.ALIASES, **lean.OWN_ALIASES, **lean.FRAGMENT_ALIASES}
    for alias, classes in every.items():
        assert f".{alias}" in css, alias
        for name in classes:
            # action-checkbox is no style but the cell Django's actions.js looks for: it stays.
            if name != "action-checkbox":
                assert f"/* {name} */ " in css, f"{name} of {alias} has no rule in unfold's stylesheet"
    # A variant keeps its condition: the dark theme, the checked box, the first cell.
    assert ".sd-cell:where(.dark,.dark *){border-color:var(--color-base-800)}" in css
    assert ".sd-checkbox:checked{background-color:var(--color-primary-600)}" in css
    assert '.sd-checkbox:after{--tw-content:"check_small";content:var(--tw-content)}' in css
    assert "@media (hover:hover){.sd-row-action:hover{" in css
    # Linked before unfold's sheet, it names unfold's layers first, in unfold's order.
    assert css.splitlines()[1] == "@layer properties, theme, base, components, utilities;"
    assert css.count("@layer utilities{") == css.count("\n") - 2  # every rule in unfold's layer


def test_unfolds_cell_and_checkbox_lists_become_their_aliases():
    cell = " ".join(TABLE_CELL_CLASSES)
    checkbox = escape(" ".join(CHECKBOX_CLASSES))  # as the widget writes it: after:content-[&#x27;...
    html = (
        f'<td class="field-reference {cell}">B1</td>\n'
        f'<td class="action-checkbox align-middle ps-3 py-2 text-start border-t border-base-200 '
        f'dark:border-base-800"><input type="checkbox" class="{checkbox} action-select"></td>'
    )

    assert lean.lean_html(html) == (
        '<td class="field-reference sd-cell">B1</td>\n'
        '<td class="action-checkbox sd-check-cell"><input type="checkbox" class="sd-checkbox action-select"></td>'
    )


def test_indentation_goes_but_pre_textarea_and_script_keep_every_space():
    html = (
        "<div>\n        <span>a  b</span>\n\n\n    </div>"
        "<pre>\n    kept\n\n    as is</pre>"
        "<textarea name=note>\n  line one\n\n  line two</textarea>"
        "<script>\n  // a comment ends at the line break\n  run();\n</script>\n   <p>x</p>"
    )

    assert lean.lean_html(html) == (
        "<div>\n<span>a  b</span>\n</div>"  # spaces within a line stay: they may be a value
        "<pre>\n    kept\n\n    as is</pre>"
        "<textarea name=note>\n  line one\n\n  line two</textarea>"
        "<script>\n  // a comment ends at the line break\n  run();\n</script>\n<p>x</p>"
    )


def test_a_fragment_drawn_by_unfolds_label_template_gets_the_badge_and_colour_aliases():
    from bookings.admin.base import badge, yes_no

    assert str(badge("Confirmed", "success")) == '<span class="sd-badge sd-green" >\nConfirmed\n</span>\n'
    assert 'class="sd-mark sd-red"' in str(yes_no(False))
    assert 'class="sd-mark sd-unknown"' in str(yes_no(None))
    # Escaped as before: the template escapes, the lean pass changes only whitespace and classes.
    assert "&lt;b&gt;" in str(badge("<b>x</b>"))


@pytest.mark.django_db
def test_the_bookings_list_is_written_with_the_aliases_and_links_their_stylesheet(client):
    services.book(session=SessionFactory(), student=StudentFactory())
    confirmed_booking()
    client.force_login(ManagerFactory())

    html = client.get("/admin/bookings/booking/").content.decode()

    assert static("backoffice/lean.css") in html
    assert " ".join(TABLE_CELL_CLASSES) not in html
    assert html.count('class="sd-checkbox action-select"') == 2  # a box per row (the head's is unfold's id)
    assert 'class="action-checkbox sd-check-cell"' in html
    assert re.search(r'class="field-status_badge sd-cell"><span class="sd-badge sd-orange"', html)
    table = html[html.index("<table") : html.index("</table>")]
    assert not re.search(r"\n[ \t]+<", table), "indentation left"


@pytest.mark.django_db
def test_a_row_action_link_is_relative_to_the_list_and_named_by_its_title(client):
    booking = services.book(session=SessionFactory(), student=StudentFactory())
    client.force_login(ManagerFactory())
    url = "/admin/bookings/booking/"

    html = client.get(url).content.decode()

    link = re.search(rf'<a href="({booking.pk}/cancel/)" title="Cancel booking" class="sd-row-action">', html)
    assert link, "no cancel link on the pending booking's row"
    assert 'aria-hidden="true">cancel</i></a>' in html
    assert "aria-label=" not in link.group(0)  # the title names it: said once, not twice
    assert client.get(urljoin(url, link.group(1))).status_code == 200  # the action's page
