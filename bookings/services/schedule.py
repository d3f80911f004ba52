"""The rules every session obeys, however it is made: the admin form, an import, generation from
availability, a weekly duplicate. Each is written here once; the callers only word a refusal their
own way (a form error on its field, an import's row error, a skipped slot).

One session alone (``refusal``):

- it ends after it starts;
- a lesson has a tutor, and a new tutor is an active one;
- it has 1 to ``MAX_CAPACITY`` seats, and a lesson at most as many as its product sells (one for a
  one-to-one lesson): a lesson's product is priced for that group size;
- a new session does not start in the past, an open one is not moved into the past, and a started
  session is never made open again.

Against the others (``Timetable``, the live sessions a batch could clash with, read in one query):

- a tutor's sessions never overlap, each padded by the tutor's buffers before and after, so any
  two are at least ``buffer_after + buffer_before`` apart (as generation spaces lessons);
- two sessions in the same room never overlap. Rooms are free text: compared trimmed and
  case-blind, and a blank room is no room. A session with neither room nor tutor is told apart by
  its product only, so two sittings of one product without a room never overlap either.

Only the tutor rule is guarded by a lock (every writer of a tutor's sessions takes the tutor's row
first, see ``lock_tutors``); a room is free text with no row to lock, so two people booking one room
at the very same moment could both pass, and the next edit of either session shows the clash.
"""

from __future__ import annotations

import enum
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.db.models.functions import Lower, Trim
from django.utils import timezone

from bookings.errors import BookingNotAllowed
from bookings.models import Product, ProductKind, Session, SessionSource, SessionStatus, Tutor

# The most seats one session may have: the largest hall is far smaller, and a typo (100000 for 100)
# would otherwise open a session nobody can fill.
MAX_CAPACITY = 500

# How a new session in the past is refused, by where it comes from.
ADDED = {SessionSource.IMPORT: "imported", SessionSource.AVAILABILITY: "generated"}


class SessionChangeRefused(BookingNotAllowed):
    """A refused session edit; ``field`` names the field it is about, so a form can show it there."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Rule(enum.StrEnum):
    """The rule a session breaks, in the words a list of skipped sessions uses."""

    TIMES = "it ends before it starts"
    NO_TUTOR = "a lesson needs a tutor"
    INACTIVE_TUTOR = "the tutor is not active"
    CAPACITY = "its capacity is out of range"
    PAST = "it is in the past"
    TUTOR_BUSY = "the tutor already has a session then"
    ROOM_TAKEN = "the room is taken then"


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: Rule
    field: str  # the form field (and import column) it is about
    message: str

    def error(self) -> SessionChangeRefused:
        return SessionChangeRefused(self.message, field=self.field)


def refusal(session: Session, *, now: datetime, changed: Collection[str] | None = None) -> Refusal | None:
    """The first rule of one session alone that ``session`` breaks, or None.

    ``changed`` names the fields an edit changes (None: a new session, every rule applies); an
    edit is judged on the rules its changes touch, so a session made before a rule existed can
    still have its room corrected.
    """

    def touched(*names: str) -> bool:
        return changed is None or any(name in changed for name in names)

    if touched("starts_at", "ends_at") and session.ends_at <= session.starts_at:
        return Refusal(Rule.TIMES, "ends_at", "The session must end after it starts.")
    product: Product = session.product
    if touched("product", "tutor") and needs_tutor(product) and session.tutor_id is None:
        return Refusal(Rule.NO_TUTOR, "tutor", f"{product.code} is a lesson: give its tutor.")
    if touched("tutor") and session.tutor_id is not None and not session.tutor.is_active:
        return Refusal(Rule.INACTIVE_TUTOR, "tutor", f"{session.tutor} is not an active tutor.")
    if touched("product", "capacity") and (message := capacity_problem(product, session.capacity)):
        return Refusal(Rule.CAPACITY, "capacity", message)
    if not touched("starts_at", "status"):
        return None
    local = timezone.localtime(session.starts_at)
    if changed is None:
        if session.starts_at >= now:
            return None
        verb = ADDED.get(session.source, "added")
        message = f"{local:%Y-%m-%d %H:%M} is in the past: only future sessions can be {verb}."
        return Refusal(Rule.PAST, "starts_at", message)
    if session.status != SessionStatus.OPEN:
        return None
    if "status" in changed:
        return reopen_refusal(session, now=now)
    if session.starts_at < now:
        message = f"{local:%Y-%m-%d %H:%M} is in the past: an open session starts in the future (close it first)."
        return Refusal(Rule.PAST, "starts_at", message)
    return None


def reopen_refusal(session: Session, *, now: datetime) -> Refusal | None:
    """A started session takes no more bookings, so it is never made open again."""
    if session.starts_at > now:
        return None
    when = "ended" if session.ends_at <= now else "started"
    return Refusal(Rule.PAST, "status", f"{session} has {when}: it cannot be reopened.")


def needs_tutor(product: Product) -> bool:
    return product.kind == ProductKind.LESSON


def capacity_limit(product: Product) -> int:
    """The most seats a session of ``product`` may have."""
    if product.kind == ProductKind.LESSON:
        return min(product.default_capacity, MAX_CAPACITY)
    return MAX_CAPACITY


def capacity_problem(product: Product, capacity: int) -> str | None:
    if capacity < 1:
        return "A session needs at least one seat."
    limit = capacity_limit(product)
    if capacity <= limit:
        return None
    if limit == MAX_CAPACITY:
        return f"A session holds at most {MAX_CAPACITY} seats."
    if limit == 1:
        return f"{product.code} is a one-to-one lesson: its capacity is 1."
    return f"{product.code} is a lesson for at most {limit} students: give a capacity of 1 to {limit}."


def tutor_gap(tutor: Tutor) -> timedelta:
    """How far apart two of the tutor's sessions must be: one's buffer after, the next one's before."""
    return timedelta(minutes=tutor.buffer_before_minutes + tutor.buffer_after_minutes)


def room_key(room: str) -> str:
    return room.strip().lower()


def lock_tutors(tutor_ids: Iterable[int]) -> None:
    """Take the tutors' row locks, in id order, for the rest of the transaction.

    Two writers planning sessions for one tutor at once (the form, an import, generation, a
    duplicate) would both find the same time free; the lock makes the second wait and then read the
    first one's sessions. NO KEY: inserts that only reference the tutor (a booking, a session
    written by something holding no lock) need not wait.
    """
    ids = sorted(set(tutor_ids))
    if ids:
        list(Tutor.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))


# --- Clashes ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    starts_at: datetime
    ends_at: datetime
    key: tuple[str, int]
    name: str  # the product's name
    note: str  # where a planned one comes from, e.g. "line 12" of a file


class _Track:
    """One tutor's (or one room's) sessions, sorted by start, so an overlap is found in log time."""

    def __init__(self) -> None:
        self.starts: list[datetime] = []
        self.entries: list[_Entry] = []
        self.longest = timedelta(0)

    def add(self, entry: _Entry) -> None:
        at = bisect_right(self.starts, entry.starts_at)
        self.starts.insert(at, entry.starts_at)
        self.entries.insert(at, entry)
        self.longest = max(self.longest, entry.ends_at - entry.starts_at)

    def remove(self, key: tuple[str, int]) -> None:
        for at, entry in enumerate(self.entries):
            if entry.key == key:
                del self.starts[at], self.entries[at]
                return

    def overlapping(self, starts_at: datetime, ends_at: datetime, skip: tuple[str, int]) -> _Entry | None:
        # Only entries starting before ``ends_at`` can overlap, and none starting ``longest`` or
        # more before ``starts_at`` still runs then.
        at = bisect_left(self.starts, ends_at) - 1
        while at >= 0 and self.starts[at] > starts_at - self.longest:
            entry = self.entries[at]
            if entry.ends_at > starts_at and entry.key != skip:
                return entry
            at -= 1
        return None


def _key(session: Session) -> tuple[str, int]:
    return ("id", session.pk) if session.pk is not None else ("new", id(session))


def _place(room: str, tutor_id: int | None, product_id: int) -> str | None:
    """What keeps two sessions apart besides their tutor: their room, or with neither room nor
    tutor, their product."""
    if key := room_key(room):
        return f"room:{key}"
    return f"product:{product_id}" if tutor_id is None else None


class Timetable:
    """Live sessions, by tutor and by place, to judge planned ones against in memory.

    ``add`` a planned session once it is accepted, so the next one is judged against it too; an
    edited session added again replaces its old times.
    """

    def __init__(self) -> None:
        self.tutors: dict[int, _Track] = {}
        self.places: dict[str, _Track] = {}
        self.tracks_of: dict[tuple[str, int], list[_Track]] = {}

    @classmethod
    def around(cls, planned: Sequence[Session]) -> Timetable:
        """The live sessions ``planned`` could clash with: one query, whatever their number."""
        timetable = cls()
        live = [s for s in planned if s.status != SessionStatus.CANCELLED]
        if not live:
            return timetable
        pad = max((tutor_gap(s.tutor) for s in live if s.tutor_id), default=timedelta(0))
        tutors = {s.tutor_id for s in live if s.tutor_id}
        rooms = {key for s in live if (key := room_key(s.room))}
        products = {s.product_id for s in live if not s.tutor_id and not room_key(s.room)}
        near = (
            Session.objects.exclude(status=SessionStatus.CANCELLED)
            .filter(
                starts_at__lt=max(s.ends_at for s in live) + pad,
                ends_at__gt=min(s.starts_at for s in live) - pad,
            )
            .annotate(room_key=Lower(Trim("room")))
            .filter(
                Q(tutor_id__in=sorted(tutors))
                | Q(room_key__in=sorted(rooms))
                | Q(room_key="", tutor__isnull=True, product_id__in=sorted(products))
            )
        )
        for row in near.values_list("pk", "tutor_id", "product_id", "room", "starts_at", "ends_at", "product__name"):
            timetable.add_row(*row)
        return timetable

    def add_row(
        self,
        pk: int,
        tutor_id: int | None,
        product_id: int,
        room: str,
        starts_at: datetime,
        ends_at: datetime,
        product_name: str,
    ) -> None:
        """Count a live session read as values (its id, tutor, product, room, times, product name)."""
        key = ("id", pk)
        self._put(key, tutor_id, _place(room, tutor_id, product_id), _Entry(starts_at, ends_at, key, product_name, ""))

    def add(self, session: Session, *, note: str = "") -> None:
        """Count ``session`` as taking its time (a cancelled one takes none)."""
        key = _key(session)
        for track in self.tracks_of.pop(key, []):
            track.remove(key)
        if session.status == SessionStatus.CANCELLED:
            return
        entry = _Entry(session.starts_at, session.ends_at, key, session.product.name, note)
        self._put(key, session.tutor_id, _place(session.room, session.tutor_id, session.product_id), entry)

    def _put(self, key: tuple[str, int], tutor_id: int | None, place: str | None, entry: _Entry) -> None:
        tracks = []
        if tutor_id is not None:
            tracks.append(self.tutors.setdefault(tutor_id, _Track()))
        if place is not None:
            tracks.append(self.places.setdefault(place, _Track()))
        for track in tracks:
            track.add(entry)
        self.tracks_of[key] = tracks

    def clash(self, session: Session) -> Refusal | None:
        """The rule ``session`` breaks against the sessions here, or None; a cancelled one breaks none."""
        if session.status == SessionStatus.CANCELLED:
            return None
        key = _key(session)
        if session.tutor_id is not None and (track := self.tutors.get(session.tutor_id)):
            gap = tutor_gap(session.tutor)
            if hit := track.overlapping(session.starts_at - gap, session.ends_at + gap, key):
                return Refusal(
                    Rule.TUTOR_BUSY,
                    "starts_at",
                    f"{session.tutor} already has a session then ({_label(hit, session)}).",
                )
        place = _place(session.room, session.tutor_id, session.product_id)
        track = self.places.get(place) if place is not None else None
        if track is None or not (hit := track.overlapping(session.starts_at, session.ends_at, key)):
            return None
        if session.room.strip():
            message = f"{session.room.strip()} is taken then ({_label(hit, session)})."
        else:
            message = (
                f"{session.product.name} has a sitting without a room then ({_label(hit, session)}): "
                "give each sitting its room."
            )
        return Refusal(Rule.ROOM_TAKEN, "room", message)


def _label(entry: _Entry, session: Session) -> str:
    """``General English 10:00`` (with the day when it is another day), and where it comes from."""
    local = timezone.localtime(entry.starts_at)
    same_day = local.date() == timezone.localtime(session.starts_at).date()
    label = f"{entry.name} {local:%H:%M}" if same_day else f"{entry.name} {local:%a %d %b %H:%M}"
    return f"{label}, {entry.note}" if entry.note else label


def judge(sessions: Sequence[Session], *, now: datetime, timetable: Timetable | None = None) -> list[Refusal | None]:
    """Every rule for a batch of new sessions, in order: each is judged against the live sessions
    and the ones accepted before it. One query (none when a ``timetable`` is given)."""
    timetable = Timetable.around(sessions) if timetable is None else timetable
    verdicts: list[Refusal | None] = []
    for session in sessions:
        verdict = refusal(session, now=now) or timetable.clash(session)
        if verdict is None:
            timetable.add(session)
        verdicts.append(verdict)
    return verdicts
