"""``{{ user.phone|phone }}``: a stored number as people read it, ``+998 90 123 45 67``."""

from __future__ import annotations

from django import template

from backoffice.phones import display_phone

register = template.Library()


@register.filter(name="phone")
def phone(value: str | None) -> str:
    return display_phone(value)
