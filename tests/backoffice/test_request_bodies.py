"""What a request body may cost daphne (backoffice.request_bodies), against a real daphne process:
an upload over the limit is refused before it is stored or queued, and an upload under it is not
parsed by Twisted on the way to Django."""

from __future__ import annotations

import http.client
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.servers import daphne_server

pytestmark = pytest.mark.django_db(transaction=True)


def post(base: str, path: str, size: int) -> tuple[int, str]:
    """A multipart upload of ``size`` bytes, as a browser sends the import form."""
    boundary = secrets.token_hex(8)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="import_file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    chunk = b"901234567,Aziz\r\n" * (2**16 // 16)

    def body():
        yield head
        for _ in range(size // len(chunk)):
            yield chunk
        yield tail

    length = len(head) + size // len(chunk) * len(chunk) + len(tail)
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    connection.request(
        "POST",
        path,
        body=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(length)},
    )
    response = connection.getresponse()
    text = response.read().decode(errors="replace")
    connection.close()
    return response.status, text


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_an_upload_over_the_limit_is_refused_with_413_and_a_sentence(monkeypatch):
    monkeypatch.setenv("IMPORT_MAX_UPLOAD_BYTES", str(2**20))  # the server's limit: 1 MiB (+ the form's 1 MiB)

    with daphne_server() as server:
        status, text = post(server.base, "/admin/bookings/booking/import/", 4 * 2**20)

    assert status == 413
    assert "This upload is 4.0 MB: the largest file the back office takes is 1.0 MB" in text


def test_an_upload_under_the_limit_reaches_django_without_costing_daphne_its_size_many_times(monkeypatch):
    """Twisted parsed every multipart body in memory: 50 MB cost daphne 600 MB before Django ran."""
    monkeypatch.setenv("IMPORT_MAX_UPLOAD_BYTES", str(64 * 2**20))

    with daphne_server() as server:
        pid = server.pid
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak
        before = peak_rss(pid)
        status, text = post(server.base, "/admin/bookings/booking/import/", 32 * 2**20)
        grown = peak_rss(pid) - before

    assert status == 403 and "CSRF" in text  # Django answered: the body reached it
    assert grown < 3 * 32 * 2**20, f"daphne grew by {grown / 2**20:.0f} MB for a 32 MB upload"
