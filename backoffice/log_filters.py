"""Logging filters used by ``settings.LOGGING``."""

from __future__ import annotations

import logging


class ClientErrorWithoutTraceback(logging.Filter):
    """Keep the one-line record of a 4xx response but drop the exception's traceback.

    Django logs a refused page (PermissionDenied -> 403), a missing one (Http404) or a bad request
    (SuspiciousOperation -> 400) with ``exc_info`` set, so every tutor opening a page they may not see
    printed ~70 lines of traceback. Those are the expected answers to a client's request, not faults
    of the server; a 5xx keeps its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
