"""Production settings: `check --deploy` is clean, HTTPS is the default with DEBUG off (plain http only
when asked for, as `make run` does), and every page carries a Content-Security-Policy."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from tests.factories import ManagerFactory, ResultFactory

ROOT = Path(__file__).resolve().parents[2]
# Settings that the suite or the machine may have set; each test starts from none of them.
CLEARED = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "HTTPS_ONLY",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "REDIS_URL",
    "DJANGO_SETTINGS_MODULE",
)
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "seatdesk.example.uz",
    "CSRF_TRUSTED_ORIGINS": "https://seatdesk.example.uz",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto,https",
    # Production runs on PostgreSQL (SQLite warns about covering indexes); nothing connects to it here.
    "DATABASE_URL": "postgres://seatdesk@db.invalid:5432/seatdesk",
}


def manage(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    base = {name: value for name, value in os.environ.items() if name not in CLEARED}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_check_deploy_with_production_settings() -> None:
    checked = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues" in checked.stdout


def test_it_warns_check_deploy_when_https_is_switched_off() -> None:
    checked = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, HTTPS_ONLY="0")

    assert checked.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in checked.stderr


SHOW = (
    "from django.conf import settings as s; "
    "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
    "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER)"
)


def test_it_defaults_to_https_when_debug_is_off() -> None:
    shown = manage("shell", "-c", SHOW, DEBUG="0", SECRET_KEY=PRODUCTION["SECRET_KEY"])

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == "True True True 31536000 True True None"


def test_it_serves_plain_http_when_told_so_as_make_run_does() -> None:
    shown = manage("shell", "-c", SHOW, DEBUG="0", SECRET_KEY=PRODUCTION["SECRET_KEY"], HTTPS_ONLY="0")

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == "False False False 0 False False None"


def test_it_reads_each_security_setting_and_the_proxy_header() -> None:
    shown = manage(
        "shell",
        "-c",
        SHOW,
        DEBUG="0",
        SECRET_KEY=PRODUCTION["SECRET_KEY"],
        SECURE_HSTS_SECONDS="3600",
        SECURE_HSTS_PRELOAD="0",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto,https",
    )

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == "True True True 3600 True False ('HTTP_X_FORWARDED_PROTO', 'https')"


def test_it_names_a_malformed_proxy_header() -> None:
    started = manage("check", DEBUG="0", SECRET_KEY=PRODUCTION["SECRET_KEY"], SECURE_PROXY_SSL_HEADER="https")

    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr and "SECURE_PROXY_SSL_HEADER" in started.stderr


# --- Content-Security-Policy --------------------------------------------------------------------


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.django_db
def test_it_sends_a_content_security_policy_on_admin_pages(client) -> None:
    client.force_login(ManagerFactory())

    directives = policy(client.get(reverse("admin:index")))

    assert directives["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in directives["script-src"]
    assert directives["object-src"] == ["'none'"]
    assert directives["connect-src"] == ["'self'"]  # same-origin WebSocket included (CSP Level 3)
    assert directives["frame-ancestors"] == ["'self'"]
    assert directives["base-uri"] == ["'self'"] and directives["form-action"] == ["'self'"]


@pytest.mark.django_db
def test_it_sends_it_on_the_login_page_too(client) -> None:
    assert "script-src" in client.get(reverse("admin:login"))["Content-Security-Policy"]


@pytest.mark.django_db
def test_it_runs_our_own_inline_script_by_its_nonce(client) -> None:
    client.force_login(ManagerFactory())
    result = ResultFactory()

    response = client.get(reverse("admin:bookings_testresult_change", args=[result.pk]))

    nonces = [source for source in policy(response)["script-src"] if source.startswith("'nonce-")]
    assert len(nonces) == 1
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", response.content.decode())
    inline = [attrs for attrs in inline if "application/json" not in attrs and 'type="text/template"' not in attrs]
    assert inline, "the overall-band preview script"
    assert all(f'nonce="{nonces[0][7:-1]}"' in attrs for attrs in inline), inline
