"""Who sees what, on whose clock, and who uses the students' app."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo
from typing import Any

from django.db.models import (
    QuerySet,
)
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from backoffice.models import Role, User
from bookings.models import (
    Session,
    Tutor,
)
from bookings.selectors.compiled import CompiledRead

# --- What a person may see ----------------------------------------------------------------------


def sees_own_only(user: User | Any) -> bool:
    """Tutors see their own sessions, bookings and results; the people who run the centre see all.
    The back office's lists (``TutorScopedMixin``) and the live socket's ``watch`` both ask this."""
    return getattr(user, "role", None) == Role.TUTOR and not user.is_superuser


def sessions_visible_to(user: User) -> QuerySet[Session]:
    """The sessions ``user`` may look at in the back office or watch live."""
    sessions = Session.objects.all()
    return sessions.filter(tutor__user=user) if sees_own_only(user) else sessions


# --- Whose clock: the zone a person reads times in ------------------------------------------------


def viewer_timezone(user: User | Any) -> tzinfo:
    """The zone ``user`` reads times in: a tutor their own (``Tutor.timezone``), everyone else the centre's.

    The calendar, the session and booking pages and their history ask this, so a tutor in London
    reads London times wherever the back office shows them a time, labelled (``zone_label``).
    """
    if getattr(user, "role", None) == Role.TUTOR:
        # The reverse one-to-one is cached on the user object: one query per request at most.
        tutor = _tutor_of(user)
        if tutor is not None:
            return tutor.tzinfo
    return timezone.get_default_timezone()


def _tutor_of(user: User) -> Tutor | None:
    try:
        return user.tutor
    except Tutor.DoesNotExist:
        return None


def zone_label(tz: tzinfo) -> str:
    """The zone's name when it is not the centre's ("Europe/London"), else "": centre time goes unlabelled."""
    name = str(tz)
    return "" if name == timezone.get_default_timezone_name() else name


def app_users(user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` who have signed in to the students' app (an API token was issued to
    them): the people whose booking events are kept as notifications for their app's bell.

    One query for any number of ids: the expiry sweep asks it for 25,000 students a batch. Storing
    a notification for every expired booking of students who never opened the app made the
    sweep 39x the naive loop instead of 154x (bench/expiry_sweep.py, issue 13's note).
    """
    ids = {pk for pk in user_ids if pk is not None}
    if not ids:
        return set()
    rows = _one_app_user(*ids) if len(ids) == 1 else _signed_in(user_id__in=ids)
    return {row["user_id"] for row in rows}


def _signed_in(**users: Any) -> QuerySet:
    return OutstandingToken.objects.filter(**users).order_by().values("user_id").distinct()


# One person's (a booking's student): compiled once (selectors.compiled), as every paid booking asks it.
_one_app_user = CompiledRead(lambda pk: _signed_in(user_id=pk), int)
