"""Seatdesk settings: every deployment knob is read from the environment here, and only here.

With nothing set, Seatdesk runs on the embedded default: a SQLite file (WAL, IMMEDIATE
transactions), an in-memory channel layer, django-q2's ORM broker and a local-memory cache.
With ``DATABASE_URL`` and ``REDIS_URL`` it runs on PostgreSQL and Redis.
"""

from __future__ import annotations

import ipaddress
import math
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.urls import reverse_lazy

BASE_DIR = Path(__file__).resolve().parent.parent

# Every value is read through these helpers: a malformed one stops the start with a message naming
# the variable, rather than a bare ValueError or, worse, a silently different setting ("DEBUG=ture").
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _malformed(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"The environment variable {name} must be {expected}; it is {value!r}.")


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if not value:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise _malformed(name, value, "1, true, yes or on, or 0, false, no or off")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = env(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _malformed(name, value, "a whole number") from None
    if minimum is not None and number < minimum:
        raise _malformed(name, value, f"a whole number of at least {minimum}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = env(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise _malformed(name, value, "a number") from None
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        raise _malformed(name, value, "a finite number" + (f" of at least {minimum:g}" if minimum is not None else ""))
    return number


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``, in any case (LOG_LEVEL=info is INFO)."""
    value = env(name, default)
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise _malformed(name, value, f"one of {', '.join(choices)}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
# Signs sessions, password-reset links and every django-q2 task on the broker: a key anyone can read
# lets them forge all three (a task pushed onto Redis runs on the worker). There is no fallback.
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set the environment variable SECRET_KEY to a long random value, e.g. the "
        "output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'. "
        "(`make run` and `make test` use a key generated once into .secret_key.)"
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Where people reach Seatdesk: absolute links in calendar feeds and e-mails are built on it.
# Unset: absolute links shown on a page are built from that page's own address (bookings.calendar_feed).
SITE_URL = env("SITE_URL", "").rstrip("/")

# --- HTTPS ----------------------------------------------------------------------------------
# With DEBUG off the site is taken to be reached over HTTPS only: http is redirected, cookies are
# sent over TLS only, and browsers are told (HSTS) to use https for a year. Plain http, as `make
# run` serves on 127.0.0.1, is an explicit HTTPS_ONLY=0. Each setting can still be set on its own.
HTTPS_ONLY = env_bool("HTTPS_ONLY", default=not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=HTTPS_ONLY)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=HTTPS_ONLY)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=HTTPS_ONLY)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS_ONLY else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS_ONLY)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=HTTPS_ONLY)


def env_proxy_header(name: str) -> tuple[str, str] | None:
    """``Header-Name,value`` (e.g. ``X-Forwarded-Proto,https``) as Django's ("HTTP_HEADER_NAME", value)."""
    value = env(name)
    if not value:
        return None
    header, _, expected = (part.strip() for part in value.partition(","))
    if not header or not expected:
        raise _malformed(name, value, "a header and the value meaning https, e.g. X-Forwarded-Proto,https")
    meta = header.upper().replace("-", "_")
    return (meta if meta.startswith("HTTP_") else f"HTTP_{meta}", expected)


# Behind a proxy that ends TLS: the header it sets on https requests. Only set it when the proxy
# always sets (or strips) that header, or anyone could claim https. Without it, SECURE_SSL_REDIRECT
# behind such a proxy redirects forever.
SECURE_PROXY_SSL_HEADER = env_proxy_header("SECURE_PROXY_SSL_HEADER")

INSTALLED_APPS = [
    "daphne",
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "axes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_q",
    "import_export",
    "csp",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "backoffice",
    "bookings",
    "realtime",
    "api",
]

MIDDLEWARE = [
    # First: /healthz and /readyz answer before any redirect, host check, session or login.
    "backoffice.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A NUL byte in the URL is a 400 here, not a database error in whatever view it reaches.
    "backoffice.nul_bytes.nul_byte_guard",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page (backoffice.lockout).
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp): scripts only from our own origin, or inline with the page's
# nonce (<script nonce="{{ request.csp_nonce }}">). What unfold needs on top:
# - 'unsafe-eval' for scripts: its Alpine.js (the standard build) compiles x-data/x-bind expressions
#   with new Function(); without it the sidebar, dropdowns and modals are dead.
# - 'unsafe-inline' for styles: its templates carry style="" attributes and an inline <style> (the
#   theme colours). Style injection cannot run code. (No nonce in style-src: it would void this.)
# - data: images (icons in unfold's CSS); frames from our origin (unfold opens the related-object
#   forms in an iframe).
# connect-src 'self' covers the live client's WebSocket to the same host (ws:/wss:, CSP Level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, UNSAFE_EVAL, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "frame-ancestors": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    }
}

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
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
        "DATABASE_PREPARED_STATEMENTS", default=True
    ):
        # Parameters bound by the server, and a query run 5 times on a connection is prepared:
        # PostgreSQL plans it once, not per request (the student's bookings list plans for 1.4 ms
        # and runs in 1 ms: 3.0 ms -> 0.7 ms prepared, bench/api.py). Off behind a pooler that
        # cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
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
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The payments' covering index (INCLUDE) is for PostgreSQL; SQLite builds it on its key columns
    # alone, which is all the embedded default needs. Not a warning for every start of `make run`.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache, task broker -------------------------------------------------
REDIS_URL = env("REDIS_URL")


def redis_cache(url: str) -> dict:
    """The cache on Redis (also used by tests that point it at a Redis that is down).

    It fails soft (backoffice/cache.py): while Redis is down or hung every read is a miss and
    pages compute from the database. The timeouts bound what a hung Redis costs: redis-py 8 waits
    5 s by default, on every call, so each page took 5 s per cache read. A GET on a healthy Redis
    answers in well under a millisecond and our largest value (the dashboard's figures) is a few
    KB, so 0.25 s to connect and 0.5 s to answer are hundreds of times the normal figures yet cost
    a page at most half a second, once per ``failure_window`` (10 s) per process.
    """
    return {
        "BACKEND": "backoffice.cache.FailSoftRedisCache",
        "LOCATION": url,
        "KEY_PREFIX": "seatdesk",
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5, "failure_window": 10},
    }


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
    # - socket_timeout: every socket's receive is a BZPOPMIN that Redis holds for up to 5 s
    #   (channels-redis's brpop_timeout) when nothing arrives. redis-py 8 reads with a 5 s timeout
    #   by default, so a quiet socket raised "Timeout reading", and daphne closed it with 1011 after
    #   ~5 s. 15 s leaves 10 s beyond the longest legitimate wait; a Redis that stops answering is
    #   still noticed within 15 s (the socket closes, the client reconnects and replays ?since=).
    # - socket_keepalive + health_check_interval: a connection that a dead server or a firewall
    #   dropped without a word is found by TCP keepalive (redis-py: 30 s idle, then 3 probes 5 s
    #   apart) while blocked, and by a PING before reuse after 30 s unused, not by a lost send.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": 1000,
                        "socket_connect_timeout": 5,
                        "socket_timeout": 15,
                        "socket_keepalive": True,
                        "health_check_interval": 30,
                    }
                ],
                "prefix": "seatdesk",
                "capacity": 2000,
                "expiry": 120,
                "group_expiry": 7 * 24 * 3600,
            },
        }
    }
    CACHES = {"default": redis_cache(REDIS_URL)}
else:
    # One process: every socket and every publisher of the web server share this layer; events a
    # worker raises are stored as notifications and replayed on the next connect.
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 2000, "expiry": 120}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

Q_CLUSTER = {
    "name": "seatdesk",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": 120,
    "retry": 180,  # must exceed timeout, or a slow task is started a second time
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Tasks",
    "orm": None if REDIS_URL else "default",
}
if REDIS_URL:
    import redis

    # django-q2 hands a dict to redis.Redis(**...); a pool built from the URL keeps every URL form
    # (rediss://, unix://, a password) working. Its worker blocks on BLPOP for 1 s at a time
    # (django_q/brokers/redis_broker.py), so a 5 s read timeout is five times that wait, and also
    # bounds what a stuck Redis costs a page that queues a task. Set here rather than left to
    # redis-py's default, which changes between versions (it became 5 s in 8.x). Keepalive and a
    # PING before reusing a connection idle for 30 s: as for the channel layer above.
    Q_CLUSTER["redis"] = {
        "connection_pool": redis.ConnectionPool.from_url(
            REDIS_URL,
            socket_connect_timeout=5,
            socket_timeout=5,
            socket_keepalive=True,
            health_check_interval=30,
        )
    }

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
# Times read 24-hour everywhere ("Wed 09 Dec 2026 14:00"), not en-gb's "6:02 p.m.".
FORMAT_MODULE_PATH = ["backoffice.formats"]
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
# Checked wherever a password is chosen in the back office (add user, set or change a password).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out login before the password is even checked. Every
# authenticate() call must then pass the request (the admin login does; see tests/backoffice).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lockout: AXES_FAILURE_LIMIT wrong passwords for one login from one address lock that pair (not the
# login everywhere, which would let anyone lock a manager out; not the address, which a whole centre
# may share behind one NAT) until AXES_COOLOFF_MINUTES pass without another attempt. A manager unlocks
# sooner: People > Staff > "Unlock login", or System > Locked logins. A success clears the count.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "backoffice.lockout.lockout_response"
# The client's address is REMOTE_ADDR: behind a proxy, run daphne with --proxy-headers so that it is
# the visitor's address (from X-Forwarded-For), not the proxy's.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

# --- E-mail and SMS -------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Seatdesk <noreply@seatdesk.local>")
SMS_BACKEND = env("SMS_BACKEND", "console")

# --- Payment providers (README "Payments"; bookings/payments) ---------------------------------
# Click SHOP API: the ids and secret key Click issued for the service. Without a secret key every
# Click callback is refused (a signature made with an empty key proves nothing).
CLICK_SERVICE_ID = env("CLICK_SERVICE_ID")
CLICK_MERCHANT_ID = env("CLICK_MERCHANT_ID")
CLICK_MERCHANT_USER_ID = env("CLICK_MERCHANT_USER_ID")
CLICK_SECRET_KEY = env("CLICK_SECRET_KEY")
# Payme Merchant API: the cash desk's id and its two keys; PAYME_TEST_MODE=1 accepts the test key
# (the sandbox, test.paycom.uz) instead of the production one. Without a key every call is refused.
PAYME_MERCHANT_ID = env("PAYME_MERCHANT_ID")
PAYME_KEY = env("PAYME_KEY")
PAYME_TEST_KEY = env("PAYME_TEST_KEY")
PAYME_TEST_MODE = env_bool("PAYME_TEST_MODE")
# Click's Merchant API, which we call to reverse (refund) a Click payment; the wait for its answer.
CLICK_API_URL = env("CLICK_API_URL", "https://api.click.uz/v2/merchant")
CLICK_API_TIMEOUT = env_float("CLICK_API_TIMEOUT", 10, minimum=1)
# Where Click and Payme send the student back to after paying from a payment link (empty: nowhere).
PAYMENT_RETURN_URL = env("PAYMENT_RETURN_URL")


def env_networks(name: str) -> list[str]:
    """Comma-separated addresses or networks (``185.234.113.0/28``), each checked at start-up."""
    networks = env_list(name)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise _malformed(name, network, "IP addresses or networks separated by commas") from None
    return networks


# Only these addresses may call the payment callbacks (empty: anyone, the signature and key still
# checked). Payme calls from 185.234.113.1-15 (185.234.113.0/28); ask Click for its addresses.
PAYMENT_ALLOWED_IPS = env_networks("PAYMENT_ALLOWED_IPS")
# The caller's address is REMOTE_ADDR, unless a proxy you run puts it in a header: name that header
# (X-Real-IP, or X-Forwarded-For, whose last address is taken: the one your proxy appended). Never
# set it without such a proxy, or any caller could claim an allowed address.
PAYMENT_CLIENT_IP_HEADER = env("PAYMENT_CLIENT_IP_HEADER")
# A callback body is a few hundred bytes; anything above this is refused unread.
PAYMENT_MAX_BODY_BYTES = env_int("PAYMENT_MAX_BODY_BYTES", 16 * 1024, minimum=1024)

# --- REST API (/api/v1/; the api app, README "API") -----------------------------------------
# Bearer JWTs only (no session cookie, so no CSRF); JSON only; every error in one shape
# ({"code", "detail", "fields"}, api.errors). Throttles count in the cache (Redis in production,
# shared by every process; fail-soft, so they lapse while Redis is down rather than refusing all).
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 20, minimum=1)
RATE_PERIODS = ("s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day")


def env_rate(name: str, default: str) -> str:
    """A throttle rate, ``<requests>/<period>`` (``5/hour``), as DRF reads it."""
    value = env(name, default)
    count, _, period = value.partition("/")
    if not count.isdigit() or period not in RATE_PERIODS:
        raise _malformed(name, value, "a rate such as 5/hour (periods: second, minute, hour, day)")
    return value


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "PAGE_SIZE": API_PAGE_SIZE,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # The caller's address is REMOTE_ADDR (daphne --proxy-headers behind a proxy), never a client's
    # X-Forwarded-For: anyone could send a new one with every request and never be throttled.
    "NUM_PROXIES": 0,
    "DEFAULT_THROTTLE_RATES": {
        "otp_phone": env_rate("API_THROTTLE_OTP_PHONE", "5/hour"),  # codes sent to one phone
        "otp_address": env_rate("API_THROTTLE_OTP_ADDRESS", "20/hour"),  # codes asked for from one address
        "token_phone": env_rate("API_THROTTLE_TOKEN_PHONE", "10/hour"),  # sign-ins tried for one phone or login
        "token_address": env_rate("API_THROTTLE_TOKEN_ADDRESS", "60/hour"),
        # Booking changes per user (book, cancel, reschedule, payment links): a person's pace, not a script's.
        "booking_change": env_rate("API_THROTTLE_BOOKING_CHANGE", "20/minute"),
    },
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("API_ACCESS_TOKEN_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("API_REFRESH_TOKEN_DAYS", 30, minimum=1)),
    # A refresh token is good once: refreshing returns a new one and blacklists the old (logout too).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,  # api.views.auth sets it once per sign-in, not per refresh
}
# Phone sign-in (api.otp): the code's length is fixed by the front ends (6 digits).
API_OTP_TTL_SECONDS = env_int("API_OTP_TTL_SECONDS", 120, minimum=30)
API_OTP_RESEND_SECONDS = env_int("API_OTP_RESEND_SECONDS", 60, minimum=1)
API_OTP_MAX_TRIES = env_int("API_OTP_MAX_TRIES", 5, minimum=1)
# Idempotency-Key answers are replayed for this long.
API_IDEMPOTENCY_HOURS = env_int("API_IDEMPOTENCY_HOURS", 24, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "Seatdesk API",
    "DESCRIPTION": "Sign in by phone, find a session, book and pay it (README, section API).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed drf-spectacular-sidecar: nothing is loaded from a CDN, and the
    # page's own script is a file (SpectacularSwaggerSplitView), so the CSP above needs no exception.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "BookingStatusEnum": "bookings.models.BookingStatus",
        "PaymentMethodEnum": "bookings.models.PaymentMethod",
        "StudentPaymentStatusEnum": "bookings.selectors.StudentPaymentStatus",
        "ActorEnum": ["you", "staff", "system"],
        "SessionStatusEnum": "bookings.models.SessionStatus",
        "ProductKindEnum": "bookings.models.ProductKind",
        "ExceptionKindEnum": "bookings.models.tutors.ExceptionKind",
        "FeedbackKindEnum": "bookings.models.FeedbackKind",
    },
}

# --- Business defaults ----------------------------------------------------------------------
# Sessions without a tutor (mock exams) use this cancellation policy.
DEFAULT_CANCELLATION_POLICY = env("DEFAULT_CANCELLATION_POLICY", "moderate")
# How many days ahead generate_sessions creates lessons from availability (each tutor's
# max_advance_days caps it).
SEATDESK_GENERATE_DAYS = env_int("SEATDESK_GENERATE_DAYS", 14, minimum=1)
# Reminders: a failed one is retried after REMINDER_RETRY_BACKOFF minutes, doubling each time, until
# REMINDER_MAX_ATTEMPTS; unpaid bookings get a payment reminder this many hours before they expire.
# Offsets before the start per product code (else 24 h, 1 h, 15 min): REMINDER_OFFSETS_BY_PRODUCT =
# {"IELTS-MOCK": {"48h": 2880, "2h": 120}}.
REMINDER_MAX_ATTEMPTS = env_int("REMINDER_MAX_ATTEMPTS", 5, minimum=1)
REMINDER_RETRY_BACKOFF = env_float("REMINDER_RETRY_BACKOFF", 5, minimum=0)
PAYMENT_REMINDER_HOURS_BEFORE_EXPIRY = env_float("PAYMENT_REMINDER_HOURS_BEFORE_EXPIRY", 3, minimum=0)
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
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 100000, minimum=1)
# Largest import file, checked before it is read (bookings/imports/parsing.py). 100,000 rows of
# the widest kind (bookings with a student's and a tutor's e-mail) are ~10.3 MB of CSV, ~2.6 MB of
# XLSX: 16 MiB leaves room for long names without letting a file cost the server more than that.
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 16 * 2**20, minimum=1)
# Longest cell; longer is a row error. Names, e-mails and rooms are at most 254 characters.
IMPORT_MAX_CELL_CHARS = env_int("IMPORT_MAX_CELL_CHARS", 1000, minimum=1)
# A file that parses to more than this (a CSV's size, what an XLSX unpacks to) is previewed by the
# worker behind a progress page; up to it, at once in the request: ~6,500 CSV or ~4,500 XLSX
# booking rows, 2-3 s (bench/uploads.py). 100,000 rows held a request 20 s (CSV) and 57 s (XLSX).
IMPORT_PREVIEW_INLINE_BYTES = env_int("IMPORT_PREVIEW_INLINE_BYTES", 2**20, minimum=0)

# --- Logging --------------------------------------------------------------------------------
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # A refused or missing page (4xx) is logged as one line, without Django's traceback.
    "filters": {
        "client_errors": {"()": "backoffice.log_filters.ClientErrorWithoutTraceback"},
        "readiness_answers": {"()": "backoffice.health.ReadinessAnswers"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["client_errors"]}},
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "INFO", LOG_LEVELS)},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A 503 from /readyz is the answer a probe asked for, every few seconds of an outage.
        "django.request": {"filters": ["readiness_answers"]},
    },
}


def can(permission: str):
    """A sidebar link shows only to people who hold ``permission``."""
    return lambda request: request.user.has_perm(permission)


def open_under(link: Any, *, but: tuple[Any, ...] = ()):
    """A sidebar link is the page open when the address is under ``link`` and under none of ``but``
    (the calendar's address is under the sessions', and only one link is the page open)."""
    return lambda request: (
        request.path.startswith(str(link)) and not any(request.path.startswith(str(other)) for other in but)
    )


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
    # The class aliases of the leaner list pages (backoffice/lean.py, made by manage.py lean_stylesheet).
    "STYLES": [lambda request: static("backoffice/lean.css")],
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
                        "active": open_under(
                            reverse_lazy("admin:bookings_session_changelist"),
                            but=(reverse_lazy("admin:bookings_session_calendar"),),
                        ),
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
                        "title": "Locked logins",
                        "icon": "lock_person",
                        "link": reverse_lazy("admin:axes_accessattempt_changelist"),
                        "permission": can("axes.view_accessattempt"),
                    },
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
