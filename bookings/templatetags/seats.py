"""``{% seats session %}``: a session's seats figure, in the one notation of ``bookings.selectors``.

Every page that shows seats renders them through ``seats_html`` (templates with the tag, admin
columns and tables by calling it), so each figure carries ``data-session-seats="<session id>"``
and the realtime client (realtime/static/realtime/client.js) can rewrite every one of them from
``slot.updated``. ``data-seats-kind="attendance"`` marks a started session's attendance, which
``slot.updated`` does not describe: the client leaves it as rendered.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from bookings.models import Session
from bookings.selectors import Seats, session_seats

register = template.Library()

FIGURE_CLASS = "font-semibold text-important whitespace-nowrap"


def seats_html(session_id: int, seats: Seats, *, css: str = FIGURE_CLASS) -> SafeString:
    return format_html(
        '<span class="{}" data-session-seats="{}" data-seats-kind="{}">{}</span>',
        css,
        session_id,
        seats.kind,
        seats.text,
    )


def session_seats_html(session: Session, *, now: datetime | None = None, css: str = FIGURE_CLASS) -> SafeString:
    return seats_html(session.pk, session_seats(session, now=now), css=css)


@register.simple_tag
def seats(session: Session, css: str = FIGURE_CLASS) -> SafeString:
    return session_seats_html(session, css=css)
