"""Every main list and detail page of the back office at 100 rows a page, against plain Django's admin.

Issue 14 ("Faster pages"): each main list within 2x of a plain Django ModelAdmin showing the same
columns, and no page over 250 KB of HTML. Pages are fetched through the test client as a superuser
(middleware, the admin view, the templates), as bench/admin_changelist.py does:

- lists: the first page of ``admin:<app>_<model>_changelist`` for bookings, sessions, payments,
  reminders, test results, feedback requests, students and tutors;
- detail pages: ``admin:<app>_<model>_change`` of one booking (the newest with a payment), the
  session with the most bookings, the newest paid payment and the student with the most bookings.

"real" is the admin registered on ``admin.site`` (unfold) as it stands when the bench runs.

"plain" is the baseline, in the same run: for each of those models a ``django.contrib.admin``
ModelAdmin (not unfold's) on an ``AdminSite`` of its own at ``/plain/``, with Django's own
templates, and nothing but:

- ``list_display``: the real admin's ``get_list_display(request)`` column for column, under the
  same names. A column the real admin computes (a method of the admin, or a callable) is the real
  admin's own function, bound to the real admin instance, called from a plain function that keeps
  its description; a model field stays a model field, drawn by Django.
- the same rows fetched the same way: the real admin's ``get_queryset(request)`` (its joins and
  annotations, e.g. a booking's paid sum or a student's counts), ``list_select_related``,
  ``ordering``, ``paginator`` and ``show_full_result_count`` as the real admin has them, 100 rows a
  page on both sides.
- on a detail page, the fields of the real admin's fieldsets for that object, all read-only,
  drawn the same way as the columns; no inlines.

Left out, because they are what the real admin adds on top of plain Django: list filters, search,
``date_hierarchy``, its actions (Django's "delete selected" remains), row and detail actions,
inlines, unfold's sidebar with its badges, and its templates. The ratio real / plain is thus the
price of all of those for the same data.

Data: bench/admin_changelist.py's catalogue and bookings (20,000 sessions, 50,000 students, then
``--bookings`` bookings, a paid payment for every booking ever confirmed), plus a few thousand
reminders, test results and feedback requests and 150 more tutors, so that every list has more
than one page. Per page: the median of N warm loads (after 2 warm-ups, the pages interleaved so
that drift on the machine hits all alike), the query count of one more load, the size of its HTML
(1 KB = 1,000 bytes) and the rows it lists.

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/admin_pages.py
    ... bench/admin_pages.py --bookings 20000          # a quick run (under 3 minutes)
    ... bench/admin_pages.py --profile booking-list    # and a cProfile of one real page
    ... bench/admin_pages.py --save-html /tmp/pages    # and keep every page's HTML to look at
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import Target, configure, environment, fail, report, scale, settle, throwaway_database

# One data builder and one way of fetching pages for both benches; its functions import Django
# only when called, after configure().
from bench.admin_changelist import (
    SESSIONS,
    STUDENTS,
    add_bookings,
    describe_data,
    get_page,
    install_urls,
    profile,
    seed_catalogue,
    shorten,
    timed_queries,
)

BOOKINGS = scale(1_000_000, 2_000)
RUNS = scale(7, 1)
WARMUPS = 2
PER_PAGE = 100
REMINDERS = scale(5_000, 300)
RESULTS = scale(3_000, 200)
FEEDBACK = scale(2_000, 200)
EXTRA_TUTORS = 150  # the catalogue's 12 fill no page of their own
TARGET_VS_PLAIN = 2.0
TARGET_KB = 250
KB = 1000
PLAIN = "plain"

# label -> model (app label, model name) of the main lists, in the sidebar's order.
LISTS = {
    "booking-list": ("bookings", "booking"),
    "session-list": ("bookings", "session"),
    "payment-list": ("bookings", "payment"),
    "reminder-list": ("bookings", "reminder"),
    "result-list": ("bookings", "testresult"),
    "feedback-list": ("bookings", "feedbackrequest"),
    "student-list": ("backoffice", "student"),
    "tutor-list": ("bookings", "tutor"),
}
DETAILS = {
    "booking-page": ("bookings", "booking"),
    "session-page": ("bookings", "session"),
    "payment-page": ("bookings", "payment"),
    "student-page": ("backoffice", "student"),
}
# A row of a list is its "select this row" box, in Django's templates and in unfold's.
ROW = re.compile(r'name="_selected_action"')


# --- More data: the lists admin_changelist does not fill ----------------------------------------


def seed_others(now: datetime) -> str:
    """Reminders, test results, feedback requests and more tutors, in bulk; returns a summary.

    Written with ``bulk_create``: none of these lists needs a million rows to show its page costs,
    only more rows than one page, with their related rows (booking, student, tutor) to draw.
    """
    from backoffice.models import Role, User
    from bookings.models import (
        Booking,
        BookingStatus,
        FeedbackKind,
        FeedbackRequest,
        Reminder,
        ReminderStatus,
        TestResult,
        Tutor,
    )
    from bookings.models.results import ielts_overall

    users = User.objects.bulk_create(
        User(
            username=f"bench-more-tutor-{n}", first_name="Tutor", last_name=f"Extra {n}", role=Role.TUTOR, password="!"
        )
        for n in range(EXTRA_TUTORS)
    )
    Tutor.objects.bulk_create(Tutor(user=user, is_active=n % 5 != 0) for n, user in enumerate(users))
    tutors = list(Tutor.objects.values_list("id", flat=True))

    # Reminders of the newest bookings: the ones a reminder is still about.
    newest = Booking.objects.order_by("-created_at", "-id").values_list("id", "student_id", "session__starts_at")
    statuses = (ReminderStatus.SENT, ReminderStatus.SENT, ReminderStatus.PENDING, ReminderStatus.FAILED)
    reminders = []
    for n, (booking, student, starts_at) in enumerate(newest[:REMINDERS]):
        status = statuses[n % len(statuses)]
        scheduled = starts_at - timedelta(hours=24)
        reminders.append(
            Reminder(
                booking_id=booking,
                recipient_id=student,
                channel=("sms", "email", "push")[n % 3],
                kind="24h",
                scheduled_at=scheduled,
                status=status,
                attempts=0 if status == ReminderStatus.PENDING else 1 + (status == ReminderStatus.FAILED),
                last_error="SMS gateway timed out after 10 s" if status == ReminderStatus.FAILED else "",
                sent_at=scheduled if status == ReminderStatus.SENT else None,
            )
        )
    Reminder.objects.bulk_create(reminders, batch_size=2000)

    # Results of completed bookings, IELTS bands with the overall band worked out as save() would.
    done = (
        Booking.objects.filter(status=BookingStatus.COMPLETED).order_by("-id").values_list("id", "session__starts_at")
    )
    results = []
    for n, (booking, starts_at) in enumerate(done[:RESULTS]):
        bands = [Decimal(10 + (n * 7 + k * 3) % 7) / 2 for k in range(4)]  # 5.0 .. 8.0
        results.append(
            TestResult(
                booking_id=booking,
                listening=bands[0],
                reading=bands[1],
                writing=bands[2],
                speaking=bands[3],
                overall=ielts_overall(bands),
                test_date=starts_at.date(),
                created_at=starts_at + timedelta(days=3),
            )
        )
    TestResult.objects.bulk_create(results, batch_size=2000)
    Booking.objects.filter(id__in=[result.booking_id for result in results]).update(has_result=True)

    students = list(User.objects.filter(role=Role.STUDENT).order_by("id").values_list("id", flat=True)[:FEEDBACK])
    feedback = []
    for n, student in enumerate(students):
        scored = n % 3 == 0
        feedback.append(
            FeedbackRequest(
                student_id=student,
                tutor_id=tutors[n % len(tutors)] if n % 4 else None,
                kind=FeedbackKind.SPEAKING if n % 2 else FeedbackKind.WRITING,
                task="Some people think that cities should ban cars from their centres. Discuss.",
                submission="An essay of about 250 words. " * 10,
                score=Decimal(11 + n % 6) / 2 if scored else None,
                completed=scored and n % 2 == 0,
                completed_at=now - timedelta(days=n % 30) if scored and n % 2 == 0 else None,
                created_at=now - timedelta(hours=n),
            )
        )
    FeedbackRequest.objects.bulk_create(feedback, batch_size=2000)
    settle("bookings_reminder", "bookings_testresult", "bookings_feedbackrequest", "bookings_tutor")
    return (
        f"{len(reminders):,} reminders, {len(results):,} test results, {len(feedback):,} feedback requests, "
        f"{len(tutors):,} tutors"
    )


def detail_objects() -> dict[str, Any]:
    """The object of each detail page: busy ones, so that their inlines have rows to show."""
    from django.db.models import Count

    from backoffice.models import Student
    from bookings.models import Booking, Payment, PaymentStatus, Session

    payment = Payment.objects.filter(status=PaymentStatus.PAID).order_by("-created_at", "-id").first()
    session = Session.objects.annotate(n=Count("bookings")).order_by("-n", "-starts_at").first()
    student = Student.objects.annotate(n=Count("bookings")).order_by("-n", "id").first()
    booking = Booking.objects.get(pk=payment.booking_id) if payment else Booking.objects.order_by("-id").first()
    return {"booking-page": booking, "session-page": session, "payment-page": payment, "student-page": student}


# --- The baseline --------------------------------------------------------------------------------


def _plain_column(name: str, function: Any) -> Any:
    """A plain function of the row calling ``function`` (the real admin's), keeping its description."""

    def column(obj: Any) -> Any:
        return function(obj)

    column.__name__ = name
    for attribute in ("short_description", "admin_order_field", "boolean", "empty_value_display"):
        if hasattr(function, attribute):
            setattr(column, attribute, getattr(function, attribute))
    return column


def plain_admin_class(real: Any, request: Any, detail: Any | None) -> type:
    """A ``django.contrib.admin.ModelAdmin`` with ``real``'s columns and rows, and nothing else (see the docstring)."""

    model = real.model
    own: dict[str, Any] = {}

    def plain(name_or_callable: Any) -> Any:
        if callable(name_or_callable):
            # A column the admin built for this request (its "Actions" links): named apart from
            # ModelAdmin's own attributes (``actions``), which its function's name would shadow.
            name = f"column_{getattr(name_or_callable, '__name__', 'callable')}"
            own[name] = staticmethod(_plain_column(name, name_or_callable))
            return name
        name = name_or_callable
        # Django's own rule (admin.utils.lookup_field): an attribute of the admin before one of the model.
        if name != "__str__" and hasattr(real, name):
            own[name] = staticmethod(_plain_column(name, getattr(real, name)))
        return name

    columns = tuple(plain(item) for item in real.get_list_display(request))
    fields: tuple[str, ...] = ()
    if detail is not None:
        names = [name for _, options in real.get_fieldsets(request, detail) for name in _flatten(options["fields"])]
        fields = tuple(plain(name) for name in names)

    def get_queryset(self: Any, request: Any) -> Any:
        return real.get_queryset(request)  # the same rows, joins and annotations as the real list

    attrs = {
        "__module__": __name__,
        "list_display": columns,
        "list_per_page": PER_PAGE,
        "list_select_related": real.list_select_related,
        "show_full_result_count": real.show_full_result_count,
        "ordering": real.get_ordering(request) or None,
        "paginator": real.paginator,
        "get_queryset": get_queryset,
        **own,
    }
    if fields:
        attrs["fields"] = fields
        attrs["readonly_fields"] = fields
    return type(f"Plain{model.__name__}Admin", (plain_model_admin(),), attrs)


def plain_model_admin() -> type:
    """Django's ModelAdmin drawing its list and change pages with Django's own admin templates.

    unfold comes before ``django.contrib.admin`` in INSTALLED_APPS and ships ``admin/*.html`` of
    its own, so the project's template engine would give a plain AdminSite unfold's pages. These
    responses are rendered by an engine that knows Django's admin templates only (``PLAIN``).
    """
    from django.contrib import admin

    class PlainModelAdmin(admin.ModelAdmin):
        def changelist_view(self, request: Any, extra_context: Any = None) -> Any:
            return _plain_templates(super().changelist_view(request, extra_context))

        def change_view(self, request: Any, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
            return _plain_templates(super().change_view(request, object_id, form_url, extra_context))

    return PlainModelAdmin


def _plain_templates(response: Any) -> Any:
    if hasattr(response, "using"):  # a TemplateResponse, not rendered yet; a redirect has none
        response.using = PLAIN
    return response


def add_plain_engine() -> None:
    """A template engine named ``PLAIN``: the project's options, Django's admin templates only."""
    from pathlib import Path

    import django.contrib.admin
    from django.conf import settings
    from django.template import engines
    from django.template.backends.django import DjangoTemplates

    project = settings.TEMPLATES[0]
    engines._engines[PLAIN] = DjangoTemplates(
        {
            "NAME": PLAIN,
            "DIRS": [Path(django.contrib.admin.__file__).parent / "templates"],
            "APP_DIRS": False,
            "OPTIONS": dict(project.get("OPTIONS", {})),
        }
    )


def _flatten(fields: Any) -> list[Any]:
    flat: list[Any] = []
    for item in fields:
        flat.extend(_flatten(item) if isinstance(item, (list, tuple)) else [item])
    return flat


def build_plain_site(superuser: Any, details: dict[str, Any]) -> Any:
    """The baseline's ``AdminSite``, holding a plain ModelAdmin for each model timed."""
    from django.apps import apps
    from django.contrib import admin
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = superuser
    by_model = {apps.get_model(app, model): label for label, (app, model) in DETAILS.items()}
    add_plain_engine()
    site = admin.AdminSite(name=PLAIN)
    for app, model_name in LISTS.values():
        model = apps.get_model(app, model_name)
        real = admin.site._registry[model]
        real.list_per_page = PER_PAGE  # the real admins' own default; set for both, should one change
        label = by_model.get(model)
        site.register(model, plain_admin_class(real, request, details.get(label) if label else None))
    return site


# --- Measuring -----------------------------------------------------------------------------------


@dataclass
class Page:
    label: str
    real_url: str
    plain_url: str
    is_list: bool
    seconds: dict[str, list[float]] = field(default_factory=lambda: {"real": [], "plain": []})
    queries: dict[str, int] = field(default_factory=dict)
    slowest: dict[str, tuple[float, str]] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def url(self, side: str) -> str:
        return self.real_url if side == "real" else self.plain_url

    def median(self, side: str) -> float:
        return statistics.median(self.seconds[side])

    @property
    def ratio(self) -> float:
        return self.median("real") / self.median("plain")

    def kb(self, side: str) -> float:
        return self.size[side] / KB

    def side(self, side: str) -> str:
        rows = f", {self.rows[side]} rows" if self.is_list else ""
        return f"{self.median(side) * 1000:6.1f} ms {self.queries[side]:3d} q {self.kb(side):6.1f} KB{rows}"

    def line(self) -> str:
        return f"real {self.side('real')} | plain {self.side('plain')} | {self.ratio:5.2f}x"


def pages(details: dict[str, Any]) -> list[Page]:
    from django.contrib.admin.utils import quote
    from django.urls import reverse

    found = []
    for label, (app, model) in LISTS.items():
        name = f"{app}_{model}_changelist"
        found.append(Page(label, reverse(f"admin:{name}"), reverse(f"{PLAIN}:{name}"), is_list=True))
    for label, (app, model) in DETAILS.items():
        name, args = f"{app}_{model}_change", [quote(details[label].pk)]
        found.append(Page(label, reverse(f"admin:{name}", args=args), reverse(f"{PLAIN}:{name}", args=args), False))
    return found


def measure(client: Any, timed: list[Page], runs: int, save_html: Path | None = None) -> None:
    """Warm every page up, time them interleaved, then count one more load's queries, bytes and rows
    (and keep that load's HTML in ``save_html``, as ``<label>.<side>.html``, to look at)."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sides = ("real", "plain")
    for _ in range(WARMUPS):
        for page in timed:
            for side in sides:
                get_page(client, page.url(side))
    for _ in range(runs):
        for page in timed:
            for side in sides:
                started = time.perf_counter()
                get_page(client, page.url(side))
                page.seconds[side].append(time.perf_counter() - started)
    for page in timed:
        for side in sides:
            # The sidebar's badge counts are cached for 30 s: fill the cache first, so that the
            # counted load is the steady-state page (the timed loads pay the badges as they fall due).
            cache.clear()
            get_page(client, page.url(side))
            with CaptureQueriesContext(connection) as captured, timed_queries() as log:
                html = get_page(client, page.url(side))
            if len(captured) != len(log):
                fail(f"{page.label} ({side}): {len(captured)} queries captured but {len(log)} timed")
            page.queries[side] = len(log)
            worst = max(log, key=lambda query: query.seconds)
            page.slowest[side] = (worst.seconds, worst.sql)
            page.size[side] = len(html.encode())
            if save_html is not None:
                (save_html / f"{page.label}.{side}.html").write_text(html)
            page.rows[side] = len(ROW.findall(html))
        if page.is_list and page.rows["plain"] != PER_PAGE:
            fail(f"{page.label}: the plain list shows {page.rows['plain']} rows, not {PER_PAGE}")


# --- Run -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=BOOKINGS, help="bookings in the database (default 1M)")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed loads of each page (median reported)")
    parser.add_argument(
        "--profile",
        choices=[*LISTS, *DETAILS],
        action="append",
        default=[],
        help="also print a cProfile of this real page (may be given more than once)",
    )
    parser.add_argument("--save-html", type=Path, metavar="DIR", help="keep each page's HTML there, to look at")
    args = parser.parse_args(argv)
    if args.save_html is not None:
        args.save_html.mkdir(parents=True, exist_ok=True)

    configure("admin_pages")
    # whitenoise warns once that collectstatic has not run; the pages are served all the same.
    warnings.filterwarnings("ignore", message="No directory at")
    with throwaway_database():
        from django.test import Client
        from django.utils import timezone

        env = environment()
        now = timezone.now()
        started = time.perf_counter()
        superuser = seed_catalogue(now)
        print(f"catalogue: {SESSIONS:,} sessions, {STUDENTS:,} students in {time.perf_counter() - started:.1f} s")
        print(f"adding {args.bookings:,} bookings ...", flush=True)
        seconds = add_bookings(0, args.bookings, now)
        others = seed_others(now)
        data = describe_data()
        print(f"done in {seconds:.1f} s; {others}", flush=True)

        details = detail_objects()
        install_urls({PLAIN: build_plain_site(superuser, details)})
        timed = pages(details)
        client = Client()
        client.force_login(superuser)
        load = [os.getloadavg()[0]]
        print(f"timing {len(timed)} pages, real and plain ({args.runs} runs) ...", flush=True)
        measure(client, timed, args.runs, args.save_html)
        load.append(os.getloadavg()[0])
        profiles = {
            label: profile(client, page.real_url) for page in timed for label in args.profile if page.label == label
        }

    lists = [page for page in timed if page.is_list]
    rows = [
        *env,
        ("load average", " -> ".join(f"{value:.1f}" for value in load) + f" on {os.cpu_count()} CPUs (1 minute)"),
        ("data", data),
        ("more data", others),
        ("real", "the admins registered on admin.site (unfold), as they stand"),
        ("plain", "django.contrib.admin ModelAdmin: same columns, queryset, ordering, paginator; no extras"),
        (
            "per page",
            f"median of {args.runs} warm loads after {WARMUPS} warm-ups; queries, HTML (KB = 1,000 bytes), rows",
        ),
        *((page.label, page.line()) for page in timed),
        *(
            (f"{page.label} slowest", f"{page.slowest['real'][0] * 1000:6.1f} ms  {shorten(page.slowest['real'][1])}")
            for page in timed
        ),
    ]
    targets = [
        *(
            Target(
                f"{page.label}: real within {TARGET_VS_PLAIN:.0f}x of plain Django: {page.ratio:.2f}x",
                page.ratio <= TARGET_VS_PLAIN,
            )
            for page in lists
        ),
        *(
            Target(f"{page.label}: ≤ {TARGET_KB} KB HTML: {page.kb('real'):.1f} KB", page.kb("real") <= TARGET_KB)
            for page in lists
        ),
    ]
    report(f"admin_pages — main lists and detail pages at {PER_PAGE} rows, real vs plain Django", rows, targets)
    for label, text in profiles.items():
        print(f"--- cProfile: {label} (real), 5 loads ---")
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
