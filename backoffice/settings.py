"""Seatdesk settings: every deployment knob is read from the environment here, and only here.

With nothing set, Seatdesk runs on the embedded default: a SQLite file (WAL, IMMEDIATE
transactions), an in-memory channel layer, django-q2's ORM broker and a local-memory cache.
With ``DATABASE_URL`` and ``REDIS_URL`` it runs on PostgreSQL and Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.templatetags.static import static
from django.urls import reverse_lazy

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if not value:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY") or "seatdesk-insecure-development-key-change-me-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Where people reach Seatdesk: absolute links in calendar feeds and e-mails are built on it.
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_q",
    "import_export",
    "backoffice",
    "bookings",
    "realtime",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
ASGI_APPLICATION = "backoffice.asgi.application"
WSGI_APPLICATION = None
AUTH_USER_MODEL = "backoffice.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so two requests never both read a seat
                # count and then deadlock upgrading to a write; the busy timeout makes the loser
                # wait instead of failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA busy_timeout=30000;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
            # A file, not :memory:, so that threads in concurrency tests share one database.
            "TEST": {"NAME": env("SEATDESK_TEST_DB") or BASE_DIR / "test-db.sqlite3"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache, task broker -------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    # Chosen from measurement, not defaults. One daphne process delivers roughly 4-7k frames/s
    # (150-250 us each), so a burst (an import, the expiry sweep, a cancelled exam of 30 seats
    # seen by every open screen) queues up in each socket's channel before it drains:
    # - capacity: channels-redis drops whole messages for a channel past it (default 100); 2,000
    #   holds the largest burst we produce (an import's events) for every screen, at ~1 KB each.
    # - expiry: how long a queued message waits for its socket; 120 s covers draining 2,000
    #   frames for a few hundred sockets, and a client away longer gets its notifications replayed
    #   from the database on reconnect (?since=).
    # - group_expiry: a membership lapses after this even if the socket lives on; back-office
    #   tabs stay open for days, so a week (a crashed server's memberships linger that long, which
    #   only costs an ignored message each).
    # - max_connections: redis-py's pool defaults to 100 per process, and group_discard of
    #   hundreds of sockets closing at once (a server restart) failed with "Too many connections";
    #   1,000 per process stays well inside Redis's maxclients (10,000) for several processes.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "max_connections": 1000}],
                "prefix": "seatdesk",
                "capacity": 2000,
                "expiry": 120,
                "group_expiry": 7 * 24 * 3600,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "seatdesk",
        }
    }
else:
    # One process: every socket and every publisher of the web server share this layer; events a
    # worker raises are stored as notifications and replayed on the next connect.
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 2000, "expiry": 120}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

Q_CLUSTER = {
    "name": "seatdesk",
    "workers": int(env("Q_WORKERS", "2")),
    "timeout": 120,
    "retry": 180,  # must exceed timeout, or a slow task is started a second time
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Tasks",
    "orm": None if REDIS_URL else "default",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", "Asia/Tashkent")
# Hourly and daily schedules follow the centre's clock (django-q2 would default to TIME_ZONE too; said here).
Q_CLUSTER["time_zone"] = TIME_ZONE
USE_I18N = True
USE_TZ = True
PHONENUMBER_DEFAULT_REGION = env("PHONENUMBER_DEFAULT_REGION", "UZ")
DEFAULT_CURRENCY = "UZS"

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Uploaded files: import spreadsheets waiting for (or kept after) their django-q2 task.
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app directories when collectstatic has not run (development, tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Auth -----------------------------------------------------------------------------------
LOGIN_URL = "admin:login"
# The back office is the only UI: a login without a ?next= lands on the dashboard.
LOGIN_REDIRECT_URL = "admin:index"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# --- E-mail and SMS -------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Seatdesk <noreply@seatdesk.local>")
SMS_BACKEND = env("SMS_BACKEND", "console")

# --- Payment providers ----------------------------------------------------------------------
CLICK_SERVICE_ID = env("CLICK_SERVICE_ID")
CLICK_MERCHANT_ID = env("CLICK_MERCHANT_ID")
CLICK_SECRET_KEY = env("CLICK_SECRET_KEY")
PAYME_MERCHANT_ID = env("PAYME_MERCHANT_ID")
PAYME_SECRET_KEY = env("PAYME_SECRET_KEY")

# --- Business defaults ----------------------------------------------------------------------
# Sessions without a tutor (mock exams) use this cancellation policy.
DEFAULT_CANCELLATION_POLICY = env("DEFAULT_CANCELLATION_POLICY", "moderate")
# How many days ahead generate_sessions creates lessons from availability (each tutor's
# max_advance_days caps it).
SEATDESK_GENERATE_DAYS = int(env("SEATDESK_GENERATE_DAYS", "14"))
# Reminders: a failed one is retried after REMINDER_RETRY_BACKOFF minutes, doubling each time, until
# REMINDER_MAX_ATTEMPTS; unpaid bookings get a payment reminder this many hours before they expire.
# Offsets before the start per product code (else 24 h, 1 h, 15 min): REMINDER_OFFSETS_BY_PRODUCT =
# {"IELTS-MOCK": {"48h": 2880, "2h": 120}}.
REMINDER_MAX_ATTEMPTS = int(env("REMINDER_MAX_ATTEMPTS", "5"))
REMINDER_RETRY_BACKOFF = float(env("REMINDER_RETRY_BACKOFF", "5"))
PAYMENT_REMINDER_HOURS_BEFORE_EXPIRY = float(env("PAYMENT_REMINDER_HOURS_BEFORE_EXPIRY", "3"))
REMINDER_OFFSETS_BY_PRODUCT: dict[str, dict[str, int]] = {}

# --- Imports and exports (django-import-export; issue 6) -------------------------------------
# The admin asks for the model's "import_<model>" permission (operators: bookings and students;
# managers: all four kinds) and exports what a person may view. Our import pages also check the
# importer's own permission; these settings cover any admin using the library's defaults.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
# Not IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT: it turns every cell into text ("None", numbers as
# strings) and pops rows one by one (quadratic); our export resources escape free text themselves.
# Rows per import file. 100,000 bookings take ~25 s in the worker (bench/import_bookings.py), well
# inside Q_CLUSTER["timeout"]; a bigger file is refused with a message asking to split it.
IMPORT_MAX_ROWS = int(env("IMPORT_MAX_ROWS", "100000"))

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}


def can(permission: str):
    """A sidebar link shows only to people who hold ``permission``."""
    return lambda request: request.user.has_perm(permission)


# --- Admin (django-unfold) ------------------------------------------------------------------
UNFOLD = {
    "SITE_TITLE": "Seatdesk",
    "SITE_HEADER": "Seatdesk",
    "SITE_SUBHEADER": "Test centre back office",
    "SITE_SYMBOL": "event_seat",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    # The live-notifications client (realtime/static/realtime/client.js) on every admin page.
    "SCRIPTS": [lambda request: static("realtime/client.js")],
    "DASHBOARD_CALLBACK": "backoffice.dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        # Each link shows only to people whose permissions let them open it (staff groups are
        # set up in backoffice.roles); icons are Material Symbols names.
        "navigation": [
            {
                "items": [
                    {"title": "Dashboard", "icon": "dashboard", "link": reverse_lazy("admin:index")},
                ],
            },
            {
                "title": "Schedule",
                "separator": True,
                "items": [
                    {
                        "title": "Sessions",
                        "icon": "event",
                        "link": reverse_lazy("admin:bookings_session_changelist"),
                        "permission": can("bookings.view_session"),
                    },
                    {
                        "title": "Calendar",
                        "icon": "calendar_month",
                        "link": reverse_lazy("admin:bookings_session_calendar"),
                        "permission": can("bookings.view_session"),
                    },
                    {
                        "title": "Tutors",
                        "icon": "school",
                        "link": reverse_lazy("admin:bookings_tutor_changelist"),
                        "permission": can("bookings.view_tutor"),
                    },
                    {
                        "title": "Availability",
                        "icon": "schedule",
                        "link": reverse_lazy("admin:bookings_availability_changelist"),
                        "permission": can("bookings.view_availability"),
                    },
                    {
                        "title": "Date exceptions",
                        "icon": "event_busy",
                        "link": reverse_lazy("admin:bookings_dateexception_changelist"),
                        "permission": can("bookings.view_dateexception"),
                    },
                    {
                        "title": "Products",
                        "icon": "inventory_2",
                        "link": reverse_lazy("admin:bookings_product_changelist"),
                        "permission": can("bookings.view_product"),
                    },
                ],
            },
            {
                "title": "Bookings",
                "separator": True,
                "items": [
                    {
                        "title": "Bookings",
                        "icon": "confirmation_number",
                        "link": reverse_lazy("admin:bookings_booking_changelist"),
                        "permission": can("bookings.view_booking"),
                        # Unpaid bookings losing their seat within the hour.
                        "badge": "backoffice.badges.pending_expiring",
                        "badge_variant": "warning",
                    },
                    {
                        "title": "Payments",
                        "icon": "payments",
                        "link": reverse_lazy("admin:bookings_payment_changelist"),
                        "permission": can("bookings.view_payment"),
                    },
                    {
                        "title": "Reminders",
                        "icon": "alarm",
                        "link": reverse_lazy("admin:bookings_reminder_changelist"),
                        "permission": can("bookings.view_reminder"),
                    },
                ],
            },
            {
                "title": "Results",
                "separator": True,
                "items": [
                    {
                        "title": "Results",
                        "icon": "grading",
                        "link": reverse_lazy("admin:bookings_testresult_changelist"),
                        "permission": can("bookings.view_testresult"),
                    },
                    {
                        "title": "Feedback",
                        "icon": "rate_review",
                        "link": reverse_lazy("admin:bookings_feedbackrequest_changelist"),
                        "permission": can("bookings.view_feedbackrequest"),
                        # A tutor's submissions to review; for staff, those nobody was assigned.
                        "badge": "backoffice.badges.open_feedback",
                        "badge_variant": "info",
                    },
                ],
            },
            {
                "title": "People",
                "separator": True,
                "items": [
                    {
                        "title": "Students",
                        "icon": "person",
                        "link": reverse_lazy("admin:backoffice_student_changelist"),
                        "permission": can("backoffice.view_user"),
                    },
                    {
                        "title": "Staff",
                        "icon": "badge",
                        "link": reverse_lazy("admin:backoffice_staff_changelist"),
                        # Operators may view users (students) but only managers manage staff.
                        "permission": lambda request: request.user.is_superuser or request.user.role == "manager",
                    },
                ],
            },
            {
                "title": "System",
                "separator": True,
                "items": [
                    {
                        "title": "Notifications",
                        "icon": "notifications",
                        "link": reverse_lazy("admin:realtime_notification_changelist"),
                        "permission": can("realtime.view_notification"),
                        "badge": "backoffice.badges.unread_notifications",
                        "badge_variant": "primary",
                    },
                    {
                        "title": "Import history",
                        "icon": "upload_file",
                        "link": reverse_lazy("admin:bookings_importrecord_changelist"),
                        "permission": can("bookings.view_importrecord"),
                    },
                    {
                        "title": "Tasks done",
                        "icon": "task_alt",
                        "link": reverse_lazy("admin:django_q_success_changelist"),
                        "permission": can("django_q.view_success"),
                    },
                    {
                        "title": "Failed tasks",
                        "icon": "error",
                        "link": reverse_lazy("admin:django_q_failure_changelist"),
                        "permission": can("django_q.view_failure"),
                        "badge": "backoffice.badges.failed_tasks",
                        "badge_variant": "danger",
                    },
                    {
                        "title": "Scheduled tasks",
                        "icon": "update",
                        "link": reverse_lazy("admin:django_q_schedule_changelist"),
                        "permission": can("django_q.view_schedule"),
                    },
                    # The queue is a table only with the ORM broker; with Redis it has no admin page.
                    *(
                        []
                        if REDIS_URL
                        else [
                            {
                                "title": "Queued tasks",
                                "icon": "queue",
                                "link": reverse_lazy("admin:django_q_ormq_changelist"),
                                "permission": can("django_q.view_ormq"),
                            }
                        ]
                    ),
                    {
                        "title": "Groups",
                        "icon": "group",
                        "link": reverse_lazy("admin:auth_group_changelist"),
                        "permission": can("auth.view_group"),
                    },
                ],
            },
        ],
    },
}
