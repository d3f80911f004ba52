"""The session admin: its list, and the cancel, close, reopen and duplicate actions (bulk and per session)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingEvent, BookingStatus, CancelReason, Session, SessionStatus
from tests.factories import (
    LessonFactory,
    OperatorFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:bookings_session_changelist"


def later(days: int = 3, hour: int = 10):
    """A whole hour on the centre's clock, ``days`` from today."""
    day = timezone.localdate() + timedelta(days=days)
    return timezone.make_aware(timezone.datetime.combine(day, timezone.datetime.min.time())) + timedelta(hours=hour)


def detail(session: Session, name: str) -> str:
    return reverse(f"admin:bookings_session_{name}_detail", args=[session.pk])


def session_permission(action: str) -> Permission:
    return Permission.objects.get(codename=f"{action}_session", content_type__app_label="bookings")


def shown(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def operator_client(client):
    client.force_login(OperatorFactory())
    return client


@pytest.fixture
def booked():
    """Two sessions holding three bookings between them, and a booking cancelled before."""
    first, second = SessionFactory(capacity=5), SessionFactory(capacity=5, starts_at=later(days=4))
    bookings = [services.book(session=first, student=StudentFactory()) for _ in range(2)]
    bookings.append(services.confirm(services.book(session=second, student=StudentFactory())))
    gone = services.cancel(services.book(session=first, student=StudentFactory()), reason=CancelReason.STUDENT)
    return {"sessions": [first, second], "bookings": bookings, "gone": gone}


# --- Cancel ----------------------------------------------------------------------------------------


def test_it_asks_for_a_reason_before_cancelling_from_the_list(operator_client, booked):
    first, second = booked["sessions"]

    response = operator_client.post(
        reverse(CHANGELIST), {"action": "cancel_sessions", "_selected_action": [first.pk, second.pk]}
    )

    assert response.status_code == 200
    assert response.templates[0].name == "admin/bookings/session/action_form.html"
    html = response.content.decode()
    assert "Bookings to cancel" in html
    assert response.context["bookings_total"] == 3
    assert 'name="note"' in html and 'name="confirm" value="yes"' in html
    assert Session.objects.filter(status=SessionStatus.OPEN).count() == 2
    assert not BookingEvent.objects.filter(action="booking.cancelled", data__session_cancelled=True).exists()


def test_it_cancels_the_sessions_and_their_bookings_with_the_reason(operator_client, booked):
    first, second = booked["sessions"]

    response = operator_client.post(
        reverse(CHANGELIST),
        {
            "action": "cancel_sessions",
            "_selected_action": [first.pk, second.pk],
            "confirm": "yes",
            "reason": CancelReason.TUTOR,
            "note": "The examiner is ill.",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "Cancelled 2 session(s) and 3 booking(s)." in shown(response)
    for session in (first, second):
        session.refresh_from_db()
        assert (session.status, session.seats_taken) == (SessionStatus.CANCELLED, 0)
    for booking in booked["bookings"]:
        booking.refresh_from_db()
        assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, CancelReason.TUTOR)
        event = booking.events.get(action="booking.cancelled")
        assert event.data["note"] == "The examiner is ill."
        assert event.data["session_cancelled"] is True
        assert event.actor.role == "operator"
    assert not booked["gone"].events.filter(data__session_cancelled=True).exists()
    log = LogEntry.objects.get(object_id=str(first.pk), action_flag=CHANGE)
    assert "The examiner is ill." in log.get_change_message()


def test_it_will_not_cancel_without_a_reason(operator_client, booked):
    first, _ = booked["sessions"]

    response = operator_client.post(
        reverse(CHANGELIST),
        {"action": "cancel_sessions", "_selected_action": [first.pk], "confirm": "yes", "reason": "staff", "note": " "},
    )

    assert response.status_code == 200
    assert "note" in response.context["form"].errors
    first.refresh_from_db()
    assert (first.status, first.seats_taken) == (SessionStatus.OPEN, 2)


def test_a_detail_cancel_shows_a_confirmation_on_get_and_cancels_on_post(operator_client, booked):
    session = booked["sessions"][0]
    url = detail(session, "cancel")

    page = operator_client.get(url)

    assert page.status_code == 200
    assert "Cancel session" in page.content.decode()
    session.refresh_from_db()
    assert session.status == SessionStatus.OPEN

    response = operator_client.post(url, {"confirm": "yes", "reason": "staff", "note": "Room flooded"})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:bookings_session_change", args=[session.pk])
    session.refresh_from_db()
    assert (session.status, session.seats_taken) == (SessionStatus.CANCELLED, 0)
    assert Booking.objects.filter(session=session, cancel_reason=CancelReason.STAFF).count() == 2
    followed = operator_client.get(response["Location"])
    assert "Cancelled 1 session(s) and 2 booking(s)." in shown(followed)


def test_it_reports_a_session_that_is_already_cancelled(operator_client):
    session = SessionFactory()
    services.cancel_session(session)

    response = operator_client.post(detail(session, "cancel"), {"confirm": "yes", "reason": "staff", "note": "Again"})

    # The service's refusal is the form's error, on the page drawn again (bookings.admin.actions).
    assert response.status_code == 200
    assert any("cannot be cancelled" in m for m in response.context["form"].non_field_errors())


# --- Close and reopen ------------------------------------------------------------------------------


def test_it_closes_and_reopens_from_the_list_and_reports_refusals(operator_client):
    first, second = SessionFactory(), SessionFactory(starts_at=later(days=5))
    services.close_session(second)
    changelist = reverse(CHANGELIST)

    response = operator_client.post(
        changelist, {"action": "close_sessions", "_selected_action": [first.pk, second.pk]}, follow=True
    )

    assert "1 session(s) closed to new bookings." in shown(response)
    assert any("is closed: it cannot be closed" in m for m in shown(response))
    assert set(Session.objects.values_list("status", flat=True)) == {SessionStatus.CLOSED}

    response = operator_client.post(
        changelist, {"action": "open_sessions", "_selected_action": [first.pk, second.pk]}, follow=True
    )

    assert "2 session(s) reopened for bookings." in shown(response)
    assert set(Session.objects.values_list("status", flat=True)) == {SessionStatus.OPEN}


def test_a_detail_close_never_changes_anything_on_get(operator_client):
    session = SessionFactory()

    assert operator_client.get(detail(session, "close")).status_code == 200
    session.refresh_from_db()
    assert session.status == SessionStatus.OPEN

    response = operator_client.post(detail(session, "close"), {"confirm": "yes"})

    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == SessionStatus.CLOSED
    operator_client.post(detail(session, "open"), {"confirm": "yes"})
    session.refresh_from_db()
    assert session.status == SessionStatus.OPEN


def test_the_session_page_offers_only_the_actions_its_status_allows(operator_client):
    session = SessionFactory()
    page = operator_client.get(reverse("admin:bookings_session_change", args=[session.pk])).content.decode()
    assert detail(session, "close") in page and detail(session, "cancel") in page
    assert detail(session, "open") not in page

    services.close_session(session)
    page = operator_client.get(reverse("admin:bookings_session_change", args=[session.pk])).content.decode()
    assert detail(session, "open") in page and detail(session, "close") not in page


# --- Duplicate -------------------------------------------------------------------------------------


def test_it_asks_how_many_weeks_then_duplicates(operator_client):
    tutor = TutorFactory()
    session = SessionFactory(product=LessonFactory(default_capacity=3), tutor=tutor, room="Room 4", capacity=3)
    changelist = reverse(CHANGELIST)

    form = operator_client.post(changelist, {"action": "duplicate_sessions", "_selected_action": [session.pk]})
    assert form.status_code == 200
    assert 'name="weeks"' in form.content.decode()
    assert Session.objects.count() == 1

    response = operator_client.post(
        changelist,
        {"action": "duplicate_sessions", "_selected_action": [session.pk], "confirm": "yes", "weeks": "3"},
        follow=True,
    )

    copies = list(Session.objects.exclude(pk=session.pk).order_by("starts_at"))
    assert [c.starts_at for c in copies] == [session.starts_at + timedelta(weeks=w) for w in (1, 2, 3)]
    assert {(c.tutor_id, c.room, c.capacity, c.status) for c in copies} == {(tutor.pk, "Room 4", 3, "open")}
    assert any("created 3 session(s)" in m for m in shown(response))
    assert LogEntry.objects.filter(action_flag=ADDITION).count() == 3


def test_it_reports_the_weeks_it_skipped(operator_client):
    tutor = TutorFactory()
    session = SessionFactory(product=LessonFactory(), tutor=tutor)
    # The tutor is busy half an hour into the lesson's slot two weeks on.
    SessionFactory(product=LessonFactory(), tutor=tutor, starts_at=session.starts_at + timedelta(weeks=2, minutes=30))

    response = operator_client.post(detail(session, "duplicate"), {"confirm": "yes", "weeks": "3"}, follow=True)

    assert Session.objects.filter(tutor=tutor).count() == 4  # the original, the clash and two copies
    messages = shown(response)
    assert any("created 2 session(s)" in m for m in messages)
    assert any(m.startswith("Skipped 1:") and "already has a session" in m for m in messages)


@pytest.mark.parametrize("weeks", ["0", "27", "many"])
def test_it_refuses_a_number_of_weeks_out_of_range(operator_client, weeks):
    session = SessionFactory()

    response = operator_client.post(detail(session, "duplicate"), {"confirm": "yes", "weeks": weeks})

    assert response.status_code == 200
    assert "weeks" in response.context["form"].errors
    assert Session.objects.count() == 1


# --- Who may act -----------------------------------------------------------------------------------


def test_someone_without_the_change_permission_gets_403_and_changes_nothing(client):
    # A tutor's role may view sessions, not change them, even their own.
    tutor = TutorFactory()
    session = SessionFactory(tutor=tutor, product=LessonFactory())
    client.force_login(tutor.user)

    for name in ("cancel", "close", "duplicate"):
        assert client.get(detail(session, name)).status_code == 403
        data = {"confirm": "yes", "reason": "staff", "note": "x", "weeks": 1}
        assert client.post(detail(session, name), data).status_code == 403
    client.post(reverse(CHANGELIST), {"action": "close_sessions", "_selected_action": [session.pk]})

    session.refresh_from_db()
    assert session.status == SessionStatus.OPEN
    assert Session.objects.count() == 1


def test_a_tutor_allowed_to_change_acts_on_their_own_sessions_only(client):
    tutor, other = TutorFactory(), TutorFactory()
    own = SessionFactory(tutor=tutor, product=LessonFactory())
    theirs = SessionFactory(tutor=other, product=LessonFactory())
    tutor.user.user_permissions.add(session_permission("change"))
    client.force_login(tutor.user)

    assert client.get(detail(theirs, "cancel")).status_code == 404
    assert client.post(detail(theirs, "close"), {"confirm": "yes"}).status_code == 404
    client.post(reverse(CHANGELIST), {"action": "close_sessions", "_selected_action": [theirs.pk]})
    assert client.post(detail(own, "close"), {"confirm": "yes"}).status_code == 302

    own.refresh_from_db()
    theirs.refresh_from_db()
    assert (own.status, theirs.status) == (SessionStatus.CLOSED, SessionStatus.OPEN)


# --- Editing a session: all or nothing, through services.update_session -----------------------------


def change_url(session: Session) -> str:
    return reverse("admin:bookings_session_change", args=[session.pk])


INLINE = {"bookings-TOTAL_FORMS": 0, "bookings-INITIAL_FORMS": 0}


def as_posted(form) -> dict[str, object]:
    """What the browser posts for ``form`` untouched: each widget's rendering of its initial value."""
    data: dict[str, object] = {}
    for field in form:
        value, widget = field.value(), field.field.widget
        if value is None:
            continue
        if hasattr(widget, "widgets"):  # split date and time
            for index, (sub, part) in enumerate(zip(widget.widgets, widget.decompress(value), strict=True)):
                data[f"{field.html_name}_{index}"] = sub.format_value(part)
        else:
            data[field.html_name] = value
    return data


def edit(client, session: Session, inline: bool = True, **changes):
    """POST the session's change form as the page fills it, with ``changes`` typed in."""
    data = as_posted(client.get(change_url(session)).context["adminform"].form)
    data.update(changes)
    if inline:
        data.update(INLINE)
    return client.post(change_url(session), data)


def test_a_refused_status_saves_nothing_else_of_the_edit(operator_client):
    session = SessionFactory(room="Room 1")
    services.cancel_session(session)

    response = edit(operator_client, session, room="Hall B", status=SessionStatus.OPEN)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "it cannot be reopened" in str(errors)
    html = response.content.decode()
    assert "it cannot be reopened" in html
    assert "changed successfully" not in html
    assert not any("changed successfully" in m for m in shown(response))
    session.refresh_from_db()
    assert (session.room, session.status) == ("Room 1", SessionStatus.CANCELLED)
    assert not LogEntry.objects.filter(object_id=str(session.pk)).exists()


def test_a_refused_capacity_saves_nothing_else_of_the_edit(operator_client):
    session = SessionFactory(capacity=3, room="Room 1")
    for _ in range(2):
        services.book(session=session, student=StudentFactory())

    response = edit(operator_client, session, room="Hall B", capacity=1, status=SessionStatus.CLOSED)

    assert response.status_code == 200
    assert "2 seats are booked" in str(response.context["adminform"].form.errors["capacity"])
    session.refresh_from_db()
    assert (session.room, session.capacity, session.status, session.seats_taken) == ("Room 1", 3, "open", 2)


def test_an_edit_with_a_tampered_inline_saves_nothing(operator_client):
    session = SessionFactory(room="Room 1")

    response = edit(operator_client, session, inline=False, room="Hall B", status=SessionStatus.CLOSED)

    assert response.status_code == 200
    session.refresh_from_db()
    assert (session.room, session.status) == ("Room 1", SessionStatus.OPEN)


def test_an_accepted_edit_changes_room_capacity_and_status_together(operator_client):
    session = SessionFactory(capacity=5, room="Room 1")
    services.book(session=session, student=StudentFactory())

    response = edit(operator_client, session, room="Hall B", capacity=2, status=SessionStatus.CLOSED)

    assert response.status_code == 302, response.context["adminform"].form.errors
    session.refresh_from_db()
    assert (session.room, session.capacity, session.status, session.seats_taken) == ("Hall B", 2, "closed", 1)
    followed = operator_client.get(response["Location"])
    assert any("changed successfully" in m for m in shown(followed))


def test_the_add_form_creates_the_session_through_the_service(operator_client):
    product = LessonFactory(duration_minutes=60, default_capacity=1)
    tutor = TutorFactory()
    starts = later(days=5)
    data = {
        "product": product.pk,
        "tutor": tutor.pk,
        "room": "Room 7",
        "starts_at_0": timezone.localtime(starts).strftime("%d/%m/%Y"),
        "starts_at_1": timezone.localtime(starts).strftime("%H:%M"),
        "status": SessionStatus.OPEN,
        **INLINE,
    }
    response = operator_client.post(reverse("admin:bookings_session_add"), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    session = Session.objects.get()
    assert (session.starts_at, session.ends_at, session.capacity) == (starts, starts + timedelta(hours=1), 1)
    assert session.created_by.role == "operator"

    again = operator_client.post(reverse("admin:bookings_session_add"), data)

    assert again.status_code == 200
    assert "already has a session" in str(again.context["adminform"].form.errors["starts_at"])
    assert Session.objects.count() == 1


# --- The list and the bookings inline --------------------------------------------------------------


def test_the_list_shows_one_live_seats_figure_per_session(admin_client):
    session = SessionFactory(capacity=4)
    for _ in range(3):
        services.book(session=session, student=StudentFactory())
    full = SessionFactory(capacity=1, starts_at=later(days=6))
    services.book(session=full, student=StudentFactory())

    html = admin_client.get(reverse(CHANGELIST)).content.decode()

    assert f'data-session-seats="{session.pk}" data-seats-kind="seats">1 of 4 left<' in html
    assert f'data-session-seats="{full.pk}" data-seats-kind="seats">full<' in html
    # One figure per session: no second "taken" count beside it that the live client would miss.
    assert html.count(f'data-session-seats="{session.pk}"') == 1


def test_the_date_range_filter_takes_whole_local_days(admin_client):
    day = timezone.localdate() + timedelta(days=10)
    early = SessionFactory(starts_at=later(days=10, hour=0))  # midnight, local
    late = SessionFactory(starts_at=later(days=10, hour=23))
    SessionFactory(starts_at=later(days=11, hour=0))
    SessionFactory(starts_at=later(days=9, hour=23))

    response = admin_client.get(
        reverse(CHANGELIST), {"starts_at_from": day.strftime("%d/%m/%Y"), "starts_at_to": day.strftime("%d/%m/%Y")}
    )

    assert {s.pk for s in response.context["cl"].result_list} == {early.pk, late.pk}


def test_the_bookings_inline_links_each_booking_and_student_without_a_query_per_row(admin_client):
    session = SessionFactory(capacity=20)
    url = reverse("admin:bookings_session_change", args=[session.pk])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    first = services.book(session=session, student=StudentFactory())
    admin_client.get(url)
    with_one = queries()
    for _ in range(7):
        services.book(session=session, student=StudentFactory())
    html = admin_client.get(url).content.decode()

    assert queries() == with_one
    assert reverse("admin:bookings_booking_change", args=[first.pk]) in html
    assert reverse("admin:backoffice_user_change", args=[first.student_id]) in html
