"""Issue 14, "Reading the pages": history in words and local 24-hour times, each person's own clock,
the sessions list opening on today, the result form's booking picker, links only where the viewer
may follow them, and breadcrumbs that name the sidebar's groups."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from bookings import services
from bookings.models import BookingEvent, BookingStatus
from bookings.selectors import bookings_awaiting_result, viewer_timezone, zone_label
from tests.factories import (
    LessonFactory,
    OperatorFactory,
    ProductFactory,
    SessionFactory,
    StudentFactory,
    TutorFactory,
    booking_in,
)

pytestmark = pytest.mark.django_db

CENTRE = ZoneInfo("Asia/Tashkent")
# Wed 09 Dec 2026, 14:00 at the centre (09:00 UTC, 09:00 in London).
EXAM_AT = datetime(2026, 12, 9, 14, 0, tzinfo=CENTRE)
BOOKED_AT = datetime(2026, 12, 3, 18, 2, tzinfo=CENTRE)


@pytest.fixture
def booking():
    """A pending cash booking of "IELTS mock" on Wed 09 Dec 2026 14:00, made by an operator at 18:02."""
    product = ProductFactory(name="IELTS mock")
    session = SessionFactory(product=product, starts_at=EXAM_AT, ends_at=EXAM_AT + timedelta(hours=3))
    student = StudentFactory(first_name="Aziza", last_name="Karimova")
    with time_machine.travel(BOOKED_AT, tick=False):
        return services.book(session=session, student=student, actor=OperatorFactory())


@pytest.fixture
def london_tutor():
    return TutorFactory(timezone="Europe/London", user__first_name="James", user__last_name="Smith")


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


# --- 1. History in words and local 24-hour times ------------------------------------------------


def test_it_describes_a_booking_event_in_words_and_local_time(booking):
    created = BookingEvent.objects.get(booking=booking, action="booking.created")

    assert created.describe() == "IELTS mock, Wed 09 Dec 2026 14:00 · Back office · 350,000 UZS · Cash"
    assert created.action_label == "Booked"
    assert str(created) == "Booked · Thu 03 Dec 2026 18:02"
    assert created.describe(tz=ZoneInfo("Europe/London")).startswith("IELTS mock, Wed 09 Dec 2026 09:00")


def test_it_describes_payments_and_cancellations_by_their_labels(booking):
    # As record_payment writes it (made here directly: the words are under test, not the payment).
    BookingEvent.objects.create(
        booking=booking, action="payment.received", data={"payment": 1, "provider": "click", "amount": "350000.00"}
    )
    services.confirm(booking)
    services.cancel(booking, reason="staff")
    words = {e.action: e.describe() for e in BookingEvent.objects.filter(booking=booking)}

    assert words["payment.received"] == "350,000 UZS · Click"
    assert words["booking.cancelled"] == "Cancelled by staff"
    assert BookingEvent.objects.get(booking=booking, action="booking.cancelled").action_label == "Cancelled"


def test_the_booking_page_shows_history_in_words_and_24_hour_times(admin_client, booking):
    page = text(admin_client.get(reverse("admin:bookings_booking_change", args=[booking.pk])))

    assert "Thu 03 Dec 2026 18:02" in page
    assert "IELTS mock, Wed 09 Dec 2026 14:00 · Back office · 350,000 UZS · Cash" in page
    for raw in ("booking.created", "session: ", "price: 350000.00", "p.m.", "a.m."):
        assert raw not in page, raw


def test_the_booking_history_list_shows_words_not_json(admin_client, booking):
    page = text(admin_client.get(reverse("admin:bookings_bookingevent_changelist")))

    assert "Booked" in page and "IELTS mock, Wed 09 Dec 2026 14:00" in page
    assert "Thu 03 Dec 2026 18:02" in page
    assert '"session"' not in page and "&quot;session&quot;" not in page
    assert "booking.created" not in page


def test_the_history_list_costs_the_same_queries_for_many_rows(admin_client, booking, django_assert_max_num_queries):
    url = reverse("admin:bookings_bookingevent_changelist")
    admin_client.get(url)
    with django_assert_max_num_queries(8) as few:
        admin_client.get(url)
    for _ in range(10):
        services.book(session=booking.session, student=StudentFactory())
    with django_assert_max_num_queries(len(few)):
        admin_client.get(url)


# --- 2. Each person's own clock -------------------------------------------------------------------


def test_each_person_reads_their_own_zone_labelled_when_not_the_centres(london_tutor):
    assert str(viewer_timezone(london_tutor.user)) == "Europe/London"
    assert zone_label(viewer_timezone(london_tutor.user)) == "Europe/London"
    assert zone_label(viewer_timezone(OperatorFactory())) == ""
    assert zone_label(viewer_timezone(TutorFactory().user)) == ""  # a tutor at the centre


def test_a_london_tutor_sees_london_time_labelled_in_the_calendar(client, london_tutor):
    SessionFactory(tutor=london_tutor, product=LessonFactory(), starts_at=EXAM_AT, ends_at=EXAM_AT + timedelta(hours=1))
    client.force_login(london_tutor.user)

    page = text(client.get(reverse("admin:bookings_session_calendar") + "?view=day&date=2026-12-09"))

    assert "Europe/London time" in page
    assert "09:00–10:00" in page and "14:00–15:00" not in page


def test_staff_see_centre_time_unlabelled_in_the_calendar(admin_client, london_tutor):
    SessionFactory(tutor=london_tutor, product=LessonFactory(), starts_at=EXAM_AT, ends_at=EXAM_AT + timedelta(hours=1))

    page = text(admin_client.get(reverse("admin:bookings_session_calendar") + "?view=day&date=2026-12-09"))

    assert "14:00–15:00" in page and " time" not in page.split("Wednesday 9 December 2026")[1][:20]


def test_a_london_tutor_reads_their_sessions_and_history_in_london_time(client, london_tutor):
    session = SessionFactory(
        tutor=london_tutor, product=LessonFactory(), starts_at=EXAM_AT, ends_at=EXAM_AT + timedelta(hours=1)
    )
    client.force_login(london_tutor.user)

    with time_machine.travel(datetime(2026, 12, 8, 12, 0, tzinfo=CENTRE)):
        listing = text(client.get(reverse("admin:bookings_session_changelist")))
    assert "Wed 09 Dec 2026 09:00 Europe/London" in listing

    with time_machine.travel(BOOKED_AT, tick=False):
        booking = services.book(session=session, student=StudentFactory())
    page = text(client.get(reverse("admin:bookings_booking_change", args=[booking.pk])))
    assert "Thu 03 Dec 2026 13:02 Europe/London" in page  # 18:02 at the centre
    assert "Wed 09 Dec 2026 09:00" in page


# --- 3. The sessions list opens on today and upcoming ---------------------------------------------


def test_the_sessions_list_opens_on_today_and_upcoming_with_past_a_filter_away(admin_client):
    now = timezone.now()
    old = SessionFactory(starts_at=now - timedelta(days=20))
    earlier_today = SessionFactory(starts_at=timezone.localtime(now).replace(hour=0, minute=5))
    coming = SessionFactory(starts_at=now + timedelta(days=2))
    url = reverse("admin:bookings_session_changelist")

    def listed(query: str = "") -> list[int]:
        return [s.pk for s in admin_client.get(url + query).context["cl"].result_list]

    assert set(listed()) == {earlier_today.pk, coming.pk}
    assert listed("?when=past") == [old.pk]
    assert set(listed("?when=all")) == {old.pk, earlier_today.pk, coming.pk}
    # A date range reaches into the past without also picking "Past".
    day = timezone.localdate(old.starts_at).strftime("%d/%m/%Y")
    assert listed(f"?starts_at_from={day}&starts_at_to={day}") == [old.pk]
    assert "Today and upcoming" in admin_client.get(url).content.decode()


# --- 4. The result form's booking picker ----------------------------------------------------------


def _sat(tutor=None, *, status=BookingStatus.CONFIRMED, product=None, hours: float = -30):
    session = SessionFactory(
        tutor=tutor, product=product or ProductFactory(name="IELTS mock"), starts_at=timezone.now() + timedelta(days=3)
    )
    booking = booking_in(status, session=session, student=StudentFactory(first_name="Aziza", last_name="Karimova"))
    return booking


def test_the_result_picker_offers_only_bookings_awaiting_a_result_in_words(admin_client):
    waiting = _sat()
    completed = _sat(status=BookingStatus.COMPLETED)
    _sat(status=BookingStatus.CANCELLED)
    _sat(status=BookingStatus.PENDING)
    _sat(product=LessonFactory())  # a lesson: not scored
    future = _sat()
    with time_machine.travel(waiting.session.starts_at + timedelta(hours=4)):
        services.record_result(completed, scores={"listening": 7, "reading": 7, "writing": 7, "speaking": 7})
        awaited = _sat()  # a session that starts after the others' sittings
        future.session.starts_at = timezone.now() + timedelta(days=1)
        future.session.ends_at = future.session.starts_at + timedelta(hours=3)
        future.session.save(update_fields=["starts_at", "ends_at"])
        page = admin_client.get(reverse("admin:bookings_testresult_add"))
    assert awaited  # made after the clock moved: starts later still, so not offered either

    field = page.context["adminform"].form.fields["booking"]
    offered = [pk for pk, _ in field.choices if pk != ""]
    assert [int(str(pk)) for pk in offered] == [waiting.pk]
    day = timezone.localtime(waiting.session.starts_at)
    assert f"{waiting.reference} · Aziza Karimova · IELTS mock · {day:%a %d %b %Y}" in page.content.decode()


def test_a_tutor_is_offered_only_their_own(london_tutor):
    mine = _sat(london_tutor)
    theirs = _sat(TutorFactory())
    with time_machine.travel(mine.session.starts_at + timedelta(hours=4)):
        assert list(bookings_awaiting_result(london_tutor.user)) == [mine]
        assert set(bookings_awaiting_result(OperatorFactory())) == {mine, theirs}


# --- 5. Links only where the person may follow them -----------------------------------------------


def _links(client, url: str) -> set[str]:
    html = client.get(url).content.decode()
    hrefs = set(re.findall(r'href="(/admin/[^"#?]*)', html))
    return {h for h in hrefs if "logout" not in h}


def test_no_link_a_tutor_is_shown_answers_403(client, london_tutor):
    session = SessionFactory(tutor=london_tutor, created_by=OperatorFactory())
    booking = booking_in(BookingStatus.CONFIRMED, session=session)
    with time_machine.travel(session.starts_at + timedelta(hours=4)):
        result = services.record_result(booking, scores={"listening": 7, "reading": 7, "writing": 7, "speaking": 7})
    client.force_login(london_tutor.user)
    pages = [
        reverse("admin:bookings_booking_change", args=[booking.pk]),
        reverse("admin:bookings_session_change", args=[session.pk]),
        reverse("admin:bookings_testresult_change", args=[result.pk]),
        reverse("admin:bookings_booking_changelist"),
        reverse("admin:bookings_session_changelist") + "?when=all",
        reverse("admin:bookings_testresult_changelist"),
    ]
    crawled = set().union(*(_links(client, page) for page in pages))

    forbidden = [url for url in sorted(crawled) if client.get(url).status_code == 403]

    assert not forbidden
    assert str(booking.student) in text(client.get(pages[0]))  # the student is named, as plain text


def test_staff_still_follow_the_links_they_may_open(admin_client):
    session = SessionFactory(created_by=OperatorFactory())
    booking = booking_in(BookingStatus.CONFIRMED, session=session)

    html = admin_client.get(reverse("admin:bookings_booking_change", args=[booking.pk])).content.decode()

    assert reverse("admin:bookings_session_change", args=[session.pk]) in html
    assert re.search(rf'href="/admin/backoffice/[a-z]+/{booking.student.pk}/change/"', html)


# --- 6. Breadcrumbs follow the sidebar ------------------------------------------------------------


def _trail(response) -> str:
    """The header's trail: the parts unfold's header_title.html draws (truncated links and spans)."""
    html = response.content.decode()
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S).group(1)
    return " › ".join(p.strip() for p in re.findall(r'truncate tracking-tight">([^<]*)</', h1))


def test_breadcrumbs_name_the_sidebar_group(admin_client):
    session = SessionFactory()

    assert _trail(admin_client.get(reverse("admin:bookings_session_changelist"))).startswith("Schedule › Sessions")
    page = admin_client.get(reverse("admin:bookings_session_change", args=[session.pk]))
    assert _trail(page) == f"Schedule › Sessions › {session}"
    assert _trail(admin_client.get(reverse("admin:bookings_session_calendar"))) == "Schedule › Calendar"
    assert _trail(admin_client.get(reverse("admin:bookings_importrecord_changelist"))) == "System › Import history"
    assert _trail(admin_client.get(reverse("admin:bookings_booking_changelist"))) == "Bookings › Bookings"
    assert _trail(admin_client.get(reverse("admin:bookings_session_add"))).startswith("Schedule › Sessions › Add")
