"""Reading the back office's pages as a browser would."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin

HREF = re.compile(r'href="([^"]*)"')


def links(html: str, page_url: str) -> set[str]:
    """Every address the page links to, resolved against the page's own as a browser resolves it
    (a list's row actions are relative: "19995/cancel/" on /admin/bookings/booking/)."""
    return {urljoin(page_url, unescape(href)) for href in HREF.findall(html)}
