"""The admin's lists, safe against any query string: shared by every ModelAdmin of the back office."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.admin.options import IncorrectLookupParameters
from django.http import HttpRequest
from unfold import admin as unfold_admin
from unfold.views import ChangeList


class ModelAdmin(unfold_admin.ModelAdmin):
    """unfold's ModelAdmin, with the options its templates read declared.

    unfold's list templates ask for ``model_admin.list_sections`` (its expandable row sections)
    twice a row, its change form for ``conditional_fields`` once a field (and its save row for
    ``change_form_show_cancel_button``). Where the admin does not define them, the template
    engine's failed lookup calls ``dir()`` on the admin each time, to tell a missing attribute from
    a broken property: 200 ``dir()``s of a ModelAdmin on a 100-row list, about 24 ms of the sessions
    list's 108 (bench/admin_pages.py). Every ModelAdmin of the back office derives from this one
    (tests/backoffice/test_admin_lookups.py).
    """

    list_sections: tuple = ()  # no expandable row sections
    conditional_fields: dict = {}  # no field shown only on another's value
    change_form_show_cancel_button = False  # "Close" is offered where unfold offers it anyway


class SafeChangeList(ChangeList):
    """unfold's changelist, refusing a date drill-down (``?<field>__year=``) no calendar has.

    Django 5.2 builds ``datetime(year, month, day)`` from the query string and adds a year or a
    month to it, catching only ValueError around the first step: ``__year=9999`` (the year 10000)
    or a 30-digit year (OverflowError) answer 500 (Django ticket #37357, fixed after 5.2). Checked
    here first and refused the way Django refuses any bad lookup: the list reloads with ``?e=1``.
    """

    def get_filters(self, request: HttpRequest) -> tuple:
        if self.date_hierarchy:
            self._check_drill_down(request)
        return super().get_filters(request)

    def _check_drill_down(self, request: HttpRequest) -> None:
        year, month, day = (request.GET.get(f"{self.date_hierarchy}__{part}") for part in ("year", "month", "day"))
        if year is None:
            return
        try:
            start = datetime(int(year), int(month or 1), int(day or 1))
            # The end of the drill-down's span as Django computes it, which must exist too.
            if day:
                start + timedelta(days=1)
            elif month:
                (start + timedelta(days=32)).replace(day=1)
            else:
                start.replace(year=start.year + 1)
        except (ValueError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class SafeChangeListMixin:
    """Put first in the bases of every ModelAdmin with a ``date_hierarchy``: its list is a SafeChangeList."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return SafeChangeList
