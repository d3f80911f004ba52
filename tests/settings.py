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
# The test client and the daphne processes of the end-to-end tests speak plain http, as `make run` does.
os.environ.setdefault("HTTPS_ONLY", "0")

from backoffice.settings import *  # noqa: F403
