"""A URL carrying a NUL byte is answered 400 before any view sees it.

PostgreSQL refuses a NUL (``%00``) in any text it is given, so every lookup built from such a URL
(``/admin/django_q/success/%00/change/``, ``?status__exact=%00``, a search) failed inside the
database driver with ``ValueError: A string literal cannot contain NUL (0x00) characters``: a
500, on any page that filters by a text column. No id, filter value or search term of ours holds
one, so the request is refused whole, once, here. (Form and API fields refuse NUL bytes in a
body themselves: Django's and DRF's CharField carry ``ProhibitNullCharactersValidator``.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from inspect import iscoroutinefunction

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.decorators import sync_and_async_middleware

MESSAGE = "This address holds a NUL byte (%00), which no page of Seatdesk takes."


def has_nul_byte(request: HttpRequest) -> bool:
    if "\x00" in request.path_info:
        return True
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())


@sync_and_async_middleware
def nul_byte_guard(
    get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]],
) -> Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]:
    if iscoroutinefunction(get_response):

        async def guard_async(request: HttpRequest) -> HttpResponse:
            if has_nul_byte(request):
                return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")
            return await get_response(request)

        return guard_async

    def guard(request: HttpRequest) -> HttpResponse:
        if has_nul_byte(request):
            return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")
        return get_response(request)

    return guard
