"""The test suite's settings: the project's own, plus a secret key made for this run when none is set,
and plain http.

pytest-django imports the settings before any conftest.py runs, so the key is put in the environment
here; the processes the suite starts (daphne, qcluster, manage.py) inherit it from there.
"""

from __future__ import annotations

import os
import secrets

if not os.environ.get("SECRET_KEY", "").strip():
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
# Under pytest-xdist each worker gets its own Redis database (the base one + its index), as it gets its own
# test database from pytest-django: channel layer groups, the django-q2 queue and the cache are not shared
# between tests running at the same time. The processes a worker starts inherit it from the environment.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    from urllib.parse import urlsplit, urlunsplit

    _parts = urlsplit(os.environ["REDIS_URL"])
    _base = int(_parts.path.strip("/") or 0)
    _db = (_base + int(_worker[2:])) % 16
    os.environ["REDIS_URL"] = urlunsplit(_parts._replace(path=f"/{_db}"))
# The test client and the daphne processes of the end-to-end tests speak plain http, as `make run` does.
os.environ.setdefault("HTTPS_ONLY", "0")

from backoffice.settings import *  # noqa: E402, F403
