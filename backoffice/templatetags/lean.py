"""``{% lean %} ... {% endlean %}``: the enclosed HTML as ``backoffice.lean.lean_html`` writes it."""

from __future__ import annotations

from django import template
from django.template.base import Node, NodeList, Parser, Token
from django.template.context import Context
from django.utils.safestring import SafeString, mark_safe

from backoffice.lean import lean_html

register = template.Library()


class LeanNode(Node):
    def __init__(self, nodelist: NodeList) -> None:
        self.nodelist = nodelist

    def render(self, context: Context) -> SafeString:
        # What the enclosed templates rendered (safe, escaped by them), with only whitespace and
        # class lists changed: still safe.
        return mark_safe(lean_html(self.nodelist.render(context)))


@register.tag
def lean(parser: Parser, token: Token) -> LeanNode:
    nodelist = parser.parse(("endlean",))
    parser.delete_first_token()
    return LeanNode(nodelist)
