"""The list cells drawn once with unfold's templates (bookings.admin.base.badge / yes_no / two_lines)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import translation

from backoffice.lean import lean_fragment
from bookings.admin.base import badge, two_lines, yes_no


def test_a_badge_is_unfolds_label_template_as_rendered_for_the_same_text_and_colour():
    # unfold's markup, with its class lists as their aliases (backoffice/lean.py).
    assert badge("Confirmed", "success") == lean_fragment(
        render_to_string("unfold/helpers/label.html", {"text": "Confirmed", "type": "success", "size": ""})
    )
    assert 'class="sd-badge sd-green"' in badge("Confirmed", "success")
    assert 'class="sd-badge sd-grey"' in badge("Unpaid", None)  # no colour: unfold's grey
    assert badge("Confirmed", "success") is badge("Confirmed", "success")  # rendered once


def test_markup_in_a_badge_or_a_two_line_cell_is_shown_as_text():
    html = badge("<script>alert(1)</script>", "danger")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    cell = two_lines("<b>Ann</b>", "<i>+998</i>")
    assert "<b>" not in cell and "&lt;b&gt;Ann&lt;/b&gt;" in cell and "&lt;i&gt;" in cell


def test_a_cached_cell_is_rendered_again_in_another_language():
    with translation.override("en"):
        english = yes_no(True)
    with translation.override("ru"):
        russian = yes_no(True)
    assert english is not russian
    assert "check_small" in english and "check_small" in russian
    assert "close_small" in yes_no(False)
    assert "check_indeterminate_small" in yes_no(None)


def test_the_row_checkbox_is_unfolds_own_markup_with_the_rows_id():
    from types import SimpleNamespace

    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from unfold.admin import checkbox

    from bookings.admin.base import RowCheckboxMixin

    for pk in (7, 123456):
        assert RowCheckboxMixin().action_checkbox(SimpleNamespace(pk=pk)) == checkbox.render(
            ACTION_CHECKBOX_NAME, str(pk)
        )
