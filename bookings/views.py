from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from bookings.calendar_feed import tutor_calendar
from bookings.models import Tutor


@require_GET
def tutor_calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The secret-token feed: no login, because calendar apps cannot log in; the token is the key."""
    tutor = get_object_or_404(Tutor.objects.select_related("user"), calendar_token=token, is_active=True)
    response = HttpResponse(
        tutor_calendar(tutor, domain=request.get_host()), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="seatdesk.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
