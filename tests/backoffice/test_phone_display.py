"""Phones are stored in E.164 and shown as people write them."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from backoffice.models import User
from backoffice.phones import display_phone


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+998901234567", "+998 90 123 45 67"),
        ("+447700900123", "+44 7700 900123"),
        ("", ""),
        (None, ""),
        ("not a phone", "not a phone"),
    ],
)
def test_a_stored_phone_is_shown_in_its_countrys_international_format(stored, shown):
    assert display_phone(stored) == shown


def test_users_and_templates_show_the_same_format():
    user = User(phone="+998901234567")
    assert user.phone_display == "+998 90 123 45 67"
    rendered = Template("{% load phones %}{{ user.phone|phone }}").render(Context({"user": user}))
    assert rendered == "+998 90 123 45 67"
