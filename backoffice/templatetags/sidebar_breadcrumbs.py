"""The page header's breadcrumbs name the sidebar's group of the page, not its Django app.

unfold titles every page "<app> › <list> › <object>", so sessions and import history read
"Bookings › …" while the sidebar files them under "Schedule" and "System". Here the trail follows
the sidebar (``UNFOLD["SIDEBAR"]["navigation"]`` in settings, the one place the groups are named):
"Schedule › Sessions › IELTS mock · Wed 09 Dec 2026 14:00". A page the sidebar does not list keeps
unfold's own title.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.conf import settings
from django.db.models import Model
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from unfold.templatetags.unfold import header_title

register = template.Library()


@dataclass(frozen=True)
class Place:
    """Where the sidebar lists a page: its group's title, and the link's title and address."""

    group: str
    title: str
    link: str


def sidebar_places() -> dict[str, Place]:
    """Every titled group's links by address (a link the sidebar draws for some people only included)."""
    places: dict[str, Place] = {}
    for group in settings.UNFOLD.get("SIDEBAR", {}).get("navigation", []):
        if not group.get("title"):
            continue  # the untitled first group: the dashboard
        for item in group.get("items", []):
            link = item.get("link")
            if link is None or callable(link):
                continue
            places.setdefault(str(link), Place(group=str(group["title"]), title=str(item["title"]), link=str(link)))
    return places


def _changelist(context: template.Context) -> str | None:
    opts = context.get("opts")
    model_admin = context.get("model_admin")
    if opts is None and model_admin is not None and hasattr(model_admin, "model"):
        opts = model_admin.model._meta
    if opts is None:
        return None
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        return None


def page_place(context: template.Context) -> Place | None:
    """The sidebar link of the page: its own address (the calendar), else its model's list."""
    places = sidebar_places()
    request = getattr(context, "request", None)
    if request is not None and request.path in places:
        return places[request.path]
    changelist = _changelist(context)
    return places.get(changelist) if changelist else None


def _object(context: template.Context) -> Model | None:
    for name in ("original", "object"):
        value = context.get(name)
        if isinstance(value, Model) and value.pk is not None:
            return value
    return None


@register.simple_tag(takes_context=True)
def sidebar_header_title(context: template.Context) -> str:
    """The header's trail: sidebar group › sidebar link › this object (or this page's title)."""
    place = page_place(context)
    if place is None:
        return header_title(context)
    parts: list[dict[str, Any]] = [{"title": place.group, "link": ""}, {"title": place.title, "link": place.link}]
    request = getattr(context, "request", None)
    obj = _object(context)
    if obj is not None:
        opts = obj._meta
        try:
            link = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        except NoReverseMatch:
            link = ""
        parts.append({"title": obj, "link": link})
    elif request is not None and request.path != place.link and (title := context.get("title")):
        parts.append({"title": title, "link": ""})  # an add page, an import page ...
    return render_to_string("unfold/helpers/header_title.html", {"parts": parts}, request=request)
