"""Request bodies in daphne: bounded, and never parsed by Twisted (issue 12: uploads that cannot
sink the server).

Before Django sees a request, daphne (4.2, on Twisted) does two things with its body that cost
memory no view can take back:

- Twisted parses every ``multipart/form-data`` POST into ``request.args`` with the ``email``
  package, the whole body in memory at once. Daphne never reads ``request.args`` (the application
  gets the raw body), yet a 50 MB upload took the process from 108 MB to 710 MB, a 200 MB one to
  2.2 GB, before the import's own size check ran. Twisted's ``Request`` takes
  ``parsePOSTFormSubmission=False`` for exactly this ("This can use large amounts of memory for
  large uploads"); daphne does not pass it.
- Daphne copies the whole body into the application's queue, in memory, as soon as it has been
  received (django/daphne#483), however big.

So daphne is given a request class of ours: Twisted's parsing off, and a body larger than
``MAX_REQUEST_BYTES`` -- the largest import file and the form around it -- is not stored at all
and answered ``413`` with a sentence for the person, before the application (and its queue)
exists. Behind a proxy, set its body limit to the same figure (README, "Deployment").
"""

from __future__ import annotations

import html
import inspect
import logging
from typing import Any

from daphne import http_protocol
from django.conf import settings
from twisted.web import http

logger = logging.getLogger(__name__)

# The import form's other fields and the multipart framing around the file.
FORM_OVERHEAD = 2**20


def max_request_bytes() -> int:
    """The largest request body the server reads: the largest import file, and its form."""
    return settings.IMPORT_MAX_UPLOAD_BYTES + FORM_OVERHEAD


_TWISTED_PARSES = "parsePOSTFormSubmission" in inspect.signature(http.Request.__init__).parameters


class BoundedWebRequest(http_protocol.WebRequest):
    """daphne's request, with Twisted's form parsing off and the body's size bounded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _TWISTED_PARSES:
            kwargs["parsePOSTFormSubmission"] = False
        self._received = 0
        self._too_large = False
        super().__init__(*args, **kwargs)

    def gotLength(self, length: int | None) -> None:
        super().gotLength(length)
        # Known from Content-Length before a byte of the body has arrived.
        self._too_large = length is not None and length > max_request_bytes()

    def handleContentChunk(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > max_request_bytes():
            self._too_large = True  # a chunked body without a length, once it passes the limit
        if not self._too_large:
            super().handleContentChunk(data)

    def process(self) -> Any:
        if not self._too_large:
            return super().process()
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        size = max(self._received, int(self.getHeader(b"content-length") or 0))
        logger.warning("Refused a %d-byte request body for %s", size, self.uri.decode("latin-1")[:200])
        message = (
            f"This upload is {size / 2**20:,.1f} MB: the largest file the back office takes is "
            f"{limit / 2**20:,.1f} MB (at most {settings.IMPORT_MAX_ROWS:,} rows). "
            "Go back, split the file into smaller ones and import them one by one."
        )
        self.basic_error(413, b"Request Entity Too Large", html.escape(message))
        return None


def install() -> None:
    """Make daphne build its HTTP requests with ``BoundedWebRequest``. Idempotent.

    daphne's ``HTTPFactory.buildProtocol`` reads the module's ``WebRequest`` for every connection,
    so this must run before the server accepts one: ``backoffice.asgi`` calls it on import.
    """
    if not _TWISTED_PARSES:
        logger.warning("This Twisted cannot be told not to parse form uploads: large uploads cost memory.")
    http_protocol.WebRequest = BoundedWebRequest
