from __future__ import annotations

from typing import Any

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import Count, Window
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class Pagination(PageNumberPagination):
    """``?page=`` and ``?page_size=`` (1 to 100); every list answers ``count``, ``next``,
    ``previous`` and ``results``, in a stable order (each list's ordering ends with ``id``).

    A ``page_size`` that is not a whole number from 1 to 100 is a 400 (DRF would quietly use the
    default); a page past the last, or not a number, is a 404.
    """

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Enter a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters


MAX_OFFSET = 2**62  # below PostgreSQL's bigint OFFSET limit


class WindowCountPaginator(Paginator):
    """A paginator that reads the count with the page: ``COUNT(*) OVER ()`` on the page's query,
    one round trip instead of two. Only a page with no rows (an empty list, a page past the
    last) asks for the count on its own."""

    total: int | None = None

    @property
    def count(self) -> int:  # type: ignore[override]
        if self.total is None:
            self.total = self.object_list.count()
        return self.total

    def page(self, number: Any) -> Page:
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        bottom = (number - 1) * self.per_page
        rows = []
        if bottom <= MAX_OFFSET:  # a page number far past any list is past its end, not an OFFSET overflow
            rows = self.page_rows(bottom)
        if rows:
            self.total = rows[0].page_total
        number = self.validate_number(number)
        return Page(rows, number, self)

    def page_rows(self, bottom: int) -> list[Any]:
        """The page's rows from ``bottom`` on, each with the list's ``page_total``. An object list
        that reads its pages itself (``page_rows(bottom, size)``) is asked for them."""
        if hasattr(self.object_list, "page_rows"):
            return self.object_list.page_rows(bottom, self.per_page)
        return list(self.object_list.annotate(page_total=Window(Count("*")))[bottom : bottom + self.per_page])


class WindowCountPagination(Pagination):
    """``Pagination`` with the count read with the page (``WindowCountPaginator``)."""

    django_paginator_class = WindowCountPaginator
