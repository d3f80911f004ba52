"""Uploads: the worst files an import accepts, and the issue's malicious ones, against one daphne process.

One daphne process serves the admin from a throw-away PostgreSQL database (and Redis, when
``REDIS_URL`` is set), with a django-q2 cluster beside it for the previews it hands to the worker.
The centre has 10,000 students and 2,000 exam sessions. A manager uploads, for the bookings
import's preview:

- the largest CSV and XLSX still checked in the request (``IMPORT_PREVIEW_INLINE_BYTES`` of work:
  a CSV's size, what a workbook unpacks to);
- the worst CSV allowed: ``IMPORT_MAX_ROWS`` (100,000) valid bookings, padded with an ignored
  column to ``IMPORT_MAX_UPLOAD_BYTES`` (16 MiB);
- the worst XLSX allowed: the same 100,000 rows through shared strings, the shared-strings part
  padded with distinct short texts to its cap (8 MiB unpacked, ~450,000 texts: every one is a
  Python string read before the first row);
- the issue's attacks: a 200 MB CSV, an XLSX of ~300 KB holding one 300 MB shared string, and a
  CSV of 1,000,000 blank rows.

Meanwhile another manager requests the bookings list again and again. Measured for each upload:
the daphne process's peak RSS (``VmHWM`` of ``/proc/<pid>/status``, reset before each upload, and
``VmRSS`` sampled every 10 ms), how long until the person sees the preview (or the refusal), the
worker cluster's peak RSS, and the other manager's page latency p50/p99 during it, against the same
page's latency with no upload measured first in the same run (the ratio is printed).

``--inline-bytes 1000000000`` checks every file in the request instead: the design the worker
replaced, measured the same way for comparison.

Targets (issue 12): the web process's peak RSS under 400 MB and the others' p99 under 1 s and at
most 3× the baseline for every upload; each attack refused with its message.

    DATABASE_URL=postgres://root@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/uploads.py
"""

from __future__ import annotations

import argparse
import html
import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import (
    PROJECT_ROOT,
    SMOKE,
    Target,
    bench_product,
    configure,
    environment,
    fail,
    log_in,
    psycopg_params,
    report,
    throwaway_database,
    wait_until_listening,
)

STUDENTS = 10_000
SESSIONS = 2_000
TARGET_RSS_MB = 400
TARGET_P99_S = 1.0
TARGET_P99_RATIO = 3.0
BASELINE_SECONDS = 10
HEADER = ["student", "product_code", "starts_at", "payment_method", "status", "note"]
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
IMPORT_PATH = "/admin/bookings/booking/import/"


# --- The centre and its people ---------------------------------------------------------------------


def seed() -> tuple[list[str], list[str], str, str]:
    """Students and sessions; returns their e-mails, the sessions' local starts, and two managers' cookies."""
    from django.utils import timezone

    from backoffice.models import Role, User
    from bookings.models import Session

    product = bench_product(default_capacity=60)
    now = timezone.now()
    User.objects.bulk_create(
        (
            User(
                username=f"bench-student-{n}",
                first_name="Student",
                last_name=str(n),
                email=f"student.{n}@bench.example.uz",
                phone=f"+99890{n:07d}",
                role=Role.STUDENT,
                password="!",
                date_joined=now,
            )
            for n in range(STUDENTS)
        ),
        batch_size=2000,
    )
    first = timezone.localtime(now).replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=7)
    starts = [first + timedelta(days=n // 10, hours=n % 10) for n in range(SESSIONS)]
    Session.objects.bulk_create(
        (
            Session(product=product, room="Hall", starts_at=s, ends_at=s + timedelta(hours=3), capacity=60)
            for s in starts
        ),
        batch_size=2000,
    )
    managers = []
    for name in ("uploader", "other"):
        user = User(username=f"bench-{name}", first_name="Bench", last_name=name.title(), role=Role.MANAGER)
        user.set_unusable_password()
        user.save()  # save(): sets is_staff and the Managers group from the role
        managers.append(log_in(user))
    emails = [f"student.{n}@bench.example.uz" for n in range(STUDENTS)]
    return emails, [f"{timezone.localtime(s):%Y-%m-%d %H:%M}" for s in starts], managers[0], managers[1]


# --- The files -------------------------------------------------------------------------------------------


def booking_rows(emails: list[str], starts: list[str], rows: int) -> Iterator[list[str]]:
    """Valid bookings: each student into ten sessions, 50 students a session."""
    for n in range(rows):
        yield [emails[n % len(emails)], "BENCH-MOCK", starts[n // 50 % len(starts)], "cash", "pending"]


def worst_csv(path: Path, emails: list[str], starts: list[str], *, rows: int, size: int) -> None:
    """``rows`` bookings, each padded by the ignored ``note`` column so the file is ``size`` bytes."""
    lines = [",".join(row) for row in booking_rows(emails, starts, rows)]
    header = ",".join(HEADER) + "\r\n"
    plain = len(header) + sum(len(line) + 3 for line in lines)  # ",", the note, "\r\n"
    pad, extra = divmod(max(size - plain, 0), rows)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(header)
        for n, line in enumerate(lines):
            out.write(f"{line},{'n' * (pad + (1 if n < extra else 0))}\r\n")


def worst_xlsx(path: Path, emails: list[str], starts: list[str], *, rows: int, shared_bytes: int) -> None:
    """The same bookings through shared strings, the shared strings padded with distinct short texts
    to just under ``shared_bytes`` unpacked."""
    texts = [*HEADER[:5], "BENCH-MOCK", "cash", "pending", *emails, *starts]
    index = {text: n for n, text in enumerate(texts)}

    def shared() -> Iterator[str]:
        used = 0
        for text in texts:
            chunk = f"<si><t>{text}</t></si>"
            used += len(chunk.encode())
            yield chunk
        n = 0
        while used < shared_bytes - 4096:  # the part's head and tail stay under the cap
            chunk = f"<si><t>{n:x}</t></si>"
            used += len(chunk)
            n += 1
            yield chunk

    def sheet() -> Iterator[str]:
        yield row_xml(1, [index[h] for h in HEADER[:5]])
        for line, row in enumerate(booking_rows(emails, starts, rows), start=2):
            yield row_xml(line, [index[v] for v in row])

    write_xlsx(path, shared(), sheet())


def inline_xlsx(path: Path, emails: list[str], starts: list[str], *, unpacked: int) -> int:
    """As many bookings as a workbook can hold while unpacking to at most ``unpacked`` bytes (the
    largest XLSX still checked in the request); returns the rows."""
    rows = max(unpacked // 100, 1)
    while True:
        data = list(booking_rows(emails, starts, rows))
        texts = list(dict.fromkeys([*HEADER[:5], *(value for row in data for value in row)]))
        index = {text: n for n, text in enumerate(texts)}
        sheet = [row_xml(1, [index[h] for h in HEADER[:5]])]
        sheet += [row_xml(line, [index[v] for v in row]) for line, row in enumerate(data, start=2)]
        write_xlsx(path, iter([f"<si><t>{text}</t></si>" for text in texts]), iter(sheet))
        with zipfile.ZipFile(path) as archive:
            if sum(member.file_size for member in archive.infolist()) <= unpacked:
                return rows
        rows = int(rows * 0.9)


def row_xml(line: int, indexes: list[int]) -> str:
    cells = "".join(f'<c r="{chr(65 + i)}{line}" t="s"><v>{v}</v></c>' for i, v in enumerate(indexes))
    return f'<row r="{line}">{cells}</row>'


def write_xlsx(path: Path, shared: Iterator[str], sheet: Iterator[str]) -> None:
    """A minimal workbook, both big parts streamed into the zip in batches."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{SHEET_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{SHEET_TYPE}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SHEET_TYPE}.sharedStrings+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}"><Relationship Id="rId1" '
            f'Type="{DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{DOC}"><sheets>'
            '<sheet name="Bookings" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}">'
            f'<Relationship Id="rId1" Type="{DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{DOC}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )
        for name, head, parts, tail in (
            ("xl/sharedStrings.xml", f'<sst xmlns="{MAIN}">', shared, "</sst>"),
            ("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{MAIN}"><sheetData>', sheet, "</sheetData></worksheet>"),
        ):
            with archive.open(name, "w", force_zip64=True) as part:
                part.write(f'<?xml version="1.0" encoding="UTF-8"?>{head}'.encode())
                batch: list[str] = []
                for chunk in parts:
                    batch.append(chunk)
                    if len(batch) >= 10_000:
                        part.write("".join(batch).encode())
                        batch = []
                part.write(("".join(batch) + tail).encode())


def big_csv(path: Path, emails: list[str], starts: list[str], *, size: int) -> None:
    """A CSV of ``size`` bytes: valid rows, over and over."""
    block = "".join(",".join(row) + ",\r\n" for row in booking_rows(emails, starts, 10_000)).encode()
    with path.open("wb") as out:
        out.write((",".join(HEADER) + "\r\n").encode())
        while out.tell() < size:
            out.write(block)


def shared_string_bomb(path: Path, *, megabytes: int) -> None:
    """The issue's workbook: one shared string of ``megabytes`` MiB."""
    chunk = "x" * 2**20
    write_xlsx(
        path,
        iter(["<si><t>student</t></si><si><t>", *(chunk for _ in range(megabytes)), "</t></si>"]),
        iter([row_xml(1, [0]), row_xml(2, [1])]),
    )


def blank_rows(path: Path, emails: list[str], starts: list[str], *, blank: int) -> None:
    with path.open("wb") as out:
        out.write((",".join(HEADER[:3]) + "\r\n").encode())
        out.write(b"\r\n" * blank)
        out.write(f"{emails[0]},BENCH-MOCK,{starts[0]}\r\n".encode())


# --- HTTP ----------------------------------------------------------------------------------------------------


class Browser:
    """A logged-in person's HTTP client on one keep-alive connection (the standard library's)."""

    def __init__(self, port: int, cookie: str) -> None:
        self.port = port
        self.csrf = secrets.token_hex(16)  # a 32-character secret: sent as the cookie and the header
        self.cookie = f"{cookie}; csrftoken={self.csrf}"
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def get(self, path: str) -> tuple[int, str, dict[str, str]]:
        return self._send("GET", path, None, {})

    def upload(self, path: str, filename: str, source: Path) -> tuple[int, str, dict[str, str]]:
        """POST ``source`` as the import form's file, streamed from disk."""
        boundary = secrets.token_hex(16)
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="import_file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = len(head) + source.stat().st_size + len(tail)

        def body() -> Iterator[bytes]:
            yield head
            with source.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    yield chunk
            yield tail

        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(size)}
        return self._send("POST", path, body(), headers)

    def _send(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        headers = {**headers, "Cookie": self.cookie, "X-CSRFToken": self.csrf, "Host": f"127.0.0.1:{self.port}"}
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            raise
        text = response.read().decode("utf-8", errors="replace")
        return response.status, text, {k.lower(): v for k, v in response.getheaders()}


@dataclass
class Other:
    """Another manager requesting the bookings list in a loop, in a thread of their own."""

    port: int
    cookie: str
    path: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.latencies, self.errors = [], 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        browser = Browser(self.port, self.cookie)
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                status, _, _ = browser.get(self.path)
            except (OSError, http.client.HTTPException):
                status = 0
            if status != 200:
                self.errors += 1
            self.latencies.append(time.perf_counter() - started)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


# --- Processes -------------------------------------------------------------------------------------------------


def process_env() -> dict[str, str]:
    params = psycopg_params()
    auth = params.get("user", "") + (f":{params['password']}" if params.get("password") else "")
    host, port = params.get("host", "127.0.0.1"), params.get("port", 5432)
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{auth}@{host}:{port}/{params['dbname']}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "DEBUG": "0",
        "HTTPS_ONLY": "0",  # plain HTTP on 127.0.0.1, as behind the TLS proxy
        "LOG_LEVEL": "WARNING",
    }


class Server:
    """One daphne process, and (``worker=True``) a django-q2 cluster beside it."""

    def __init__(self, *, worker: bool) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log = tempfile.NamedTemporaryFile(prefix="uploads-daphne-", suffix=".log", delete=False)  # noqa: SIM115
        env = process_env()
        self.daphne = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "backoffice.asgi:application"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self.cluster = None
        if worker:
            self.cluster = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=self.log,
                start_new_session=True,  # its workers are its children: stopped together
            )
        wait_until_listening(self.daphne, self.port, self.log.name)

    def stop(self) -> None:
        for process in (self.daphne, self.cluster):
            if process is None:
                continue
            if process is self.cluster:
                os.killpg(process.pid, signal.SIGTERM)  # the cluster's own process group only
            else:
                process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


class Memory:
    """The peak RSS of a process: VmHWM reset first (Linux clear_refs 5), VmRSS sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def field(self, name: str) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def start(self) -> None:
        with suppress(OSError):  # not allowed here: the samples still show the peak
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.samples = [self.field("VmRSS")]
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            try:
                self.samples.append(self.field("VmRSS"))
            except OSError:
                return

    def stop(self) -> tuple[int, int, int]:
        """(RSS before, peak, RSS after), in bytes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        peak = max(max(self.samples), self.field("VmHWM"))
        return self.samples[0], peak, self.field("VmRSS")


def cluster_rss(cluster: subprocess.Popen | None) -> int:
    """The summed RSS of a django-q2 cluster (its processes share the session it leads)."""
    if cluster is None:
        return 0
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[3]) == cluster.pid:  # in the cluster's session
                total += int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total


# --- One upload ---------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    label: str
    size: int
    seconds: float
    rss_before: int
    rss_peak: int
    rss_after: int
    p50: float
    p99: float
    requests: int
    errors: int
    shown: str
    worker_rss_peak: int = 0


def upload(server: Server, uploader: str, other: Other, label: str, path: Path, filename: str) -> Outcome:
    """Upload ``path`` for preview while ``other`` works; wait until the preview (or refusal) is shown."""
    browser = Browser(server.port, uploader)
    browser.get(IMPORT_PATH)  # warm: the first request of a process pays for imports and templates
    memory = Memory(server.daphne.pid)
    worker_peak = [0]
    watching = threading.Event()

    def watch_worker() -> None:
        while not watching.wait(0.05):
            worker_peak[0] = max(worker_peak[0], cluster_rss(server.cluster))

    watcher = threading.Thread(target=watch_worker, daemon=True)
    memory.start()
    other.start()
    watcher.start()
    started = time.perf_counter()
    status, text, headers = browser.upload(IMPORT_PATH, filename, path)
    progress = IMPORT_PATH
    while status in (301, 302, 303) or "data-import-progress" in text:
        # Queued for the worker: the page the person is sent to refreshes until the preview is there.
        if status in (301, 302, 303):
            progress = headers.get("location", "")
            if not progress.startswith(IMPORT_PATH):
                fail(f"{label}: redirected to {progress!r}, not to the import page")
        if time.perf_counter() - started > 900:
            fail(f"{label}: no preview after 15 minutes")
        time.sleep(0.5)
        status, text, headers = browser.get(progress)
    seconds = time.perf_counter() - started
    other.stop()
    watching.set()
    watcher.join()
    before, peak, after = memory.stop()
    return Outcome(
        label=label,
        size=path.stat().st_size,
        seconds=seconds,
        rss_before=before,
        rss_peak=peak,
        rss_after=after,
        p50=percentile(other.latencies, 0.50),
        p99=percentile(other.latencies, 0.99),
        requests=len(other.latencies),
        errors=other.errors,
        shown=what_is_shown(status, text),
        worker_rss_peak=worker_peak[0],
    )


def what_is_shown(status: int, text: str) -> str:
    """The preview's counts, or the refusal, as the page shows them."""
    if status == 413:  # refused by the server before the application saw the body
        found = re.search(r"<p>([^<]+)</p>", text)
        return f"refused (413): {html.unescape(found.group(1)) if found else text[:200]}"
    if status != 200:
        return f"HTTP {status}"
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', text))
    if counts:
        shown = [f"{counts[name]} {name}" for name in ("new", "updated", "skipped", "invalid") if name in counts]
        return ", ".join(shown)
    errors = re.findall(r'<div class="mt-2 text-red-600[^"]*">\s*<ul>\s*<li>\s*([^<]+?)\s*</li>', text)
    errors += re.findall(r"data-import-file-error>\s*<div[^>]*>\s*([^<]+?)\s*</div>", text)
    errors = [html.unescape(e) for e in errors]
    return f"refused: {errors[0]}" if errors else "no preview and no error on the page"


@contextmanager
def _removed(path: str | Path | None) -> Iterator[None]:
    """Remove the directory ``path`` (and what is in it) afterwards, whatever happens."""
    try:
        yield
    finally:
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)


def size_text(value: int) -> str:
    return f"{value / 2**20:,.1f} MB" if value >= 2**20 else f"{value / 1024:,.0f} KB"


def megabytes(value: int) -> str:
    return f"{value / 2**20:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", default=SMOKE, help="10,000 rows and small attacks: a smoke run."
    )
    parser.add_argument("--keep-files", type=Path, default=None, help="Write the files here and keep them.")
    parser.add_argument(
        "--inline-bytes",
        type=int,
        default=None,
        help="IMPORT_PREVIEW_INLINE_BYTES for the run (default: the setting). A huge value checks every "
        "file in the request: the design the worker replaced, for comparison.",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # a key of the run's own
    if args.inline_bytes is not None:
        os.environ["IMPORT_PREVIEW_INLINE_BYTES"] = str(args.inline_bytes)  # the servers read it too
    media = tempfile.mkdtemp(prefix="uploads-media-")  # staged uploads and their checks, removed at the end
    os.environ["MEDIA_ROOT"] = media
    configure("uploads")
    from django.conf import settings

    from bookings.imports import parsing

    rows = 10_000 if args.quick else settings.IMPORT_MAX_ROWS
    limit = settings.IMPORT_MAX_UPLOAD_BYTES // (10 if args.quick else 1)
    inline = settings.IMPORT_PREVIEW_INLINE_BYTES
    shared_cap = int(parsing.SHARED_STRINGS_FRACTION * limit)
    worker = inline < limit  # files above the inline size are checked by the cluster
    files_dir = args.keep_files or Path(tempfile.mkdtemp(prefix="uploads-files-"))
    files_dir.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    with throwaway_database(), _removed(media), _removed(None if args.keep_files else files_dir):
        env = environment()
        emails, starts, uploader, other_cookie = seed()
        print("bench: writing the files ...", flush=True)
        files: list[tuple[str, str, Callable[[Path], Any]]] = []
        if worker:
            files += [
                (
                    f"largest CSV checked in the request ({size_text(inline)})",
                    "inline.csv",
                    lambda p: worst_csv(p, emails, starts, rows=max(inline // 160, 1), size=inline),
                ),
                (
                    f"largest XLSX checked in the request (unpacks to ≤ {size_text(inline)})",
                    "inline.xlsx",
                    lambda p: inline_xlsx(p, emails, starts, unpacked=inline),
                ),
            ]
        files += [
            (
                f"worst CSV: {rows:,} rows, padded to the size limit",
                "worst.csv",
                lambda p: worst_csv(p, emails, starts, rows=rows, size=limit),
            ),
            (
                f"worst XLSX: {rows:,} rows, shared strings at their cap",
                "worst.xlsx",
                lambda p: worst_xlsx(p, emails, starts, rows=rows, shared_bytes=shared_cap),
            ),
            (
                "attack: a 200 MB CSV",
                "big.csv",
                lambda p: big_csv(p, emails, starts, size=(20 if args.quick else 200) * 2**20),
            ),
            (
                "attack: one 300 MB shared string",
                "bomb.xlsx",
                lambda p: shared_string_bomb(p, megabytes=30 if args.quick else 300),
            ),
            (
                "attack: 1,000,000 blank rows",
                "blank.csv",
                lambda p: blank_rows(p, emails, starts, blank=1_000_000),
            ),
        ]
        for _, name, make in files:
            make(files_dir / name)
        server = Server(worker=worker)
        try:
            other = Other(server.port, other_cookie, "/admin/bookings/booking/")
            warm = Browser(server.port, other_cookie)
            for _ in range(5):
                warm.get(other.path)
            print(f"bench: baseline, the bookings list alone for {BASELINE_SECONDS} s ...", flush=True)
            memory = Memory(server.daphne.pid)
            memory.start()
            other.start()
            time.sleep(BASELINE_SECONDS)
            other.stop()
            idle, idle_peak, _ = memory.stop()
            baseline = list(other.latencies)
            for label, name, _ in files:
                print(f"bench: {label} ...", flush=True)
                outcomes.append(upload(server, uploader, other, label, files_dir / name, name))
        finally:
            server.stop()

    base_p50, base_p99 = percentile(baseline, 0.5), percentile(baseline, 0.99)
    rows_out: list[tuple[str, str]] = [
        *env,
        (
            "design",
            f"preview in the request up to {size_text(inline)} of work, in the django-q2 worker above"
            if worker
            else "every preview in the request (web process)",
        ),
        ("daphne at rest", f"RSS {megabytes(idle)} (peak {megabytes(idle_peak)} with the bookings list alone)"),
        (
            "baseline: bookings list alone",
            f"p50 {base_p50 * 1000:.0f} ms, p99 {base_p99 * 1000:.0f} ms ({len(baseline)} requests)",
        ),
    ]
    targets: list[Target] = []
    for outcome in outcomes:
        ratio = outcome.p99 / base_p99 if base_p99 else float("nan")
        rows_out += [
            (outcome.label, f"{size_text(outcome.size)} file; shown after {outcome.seconds:.1f} s: {outcome.shown}"),
            (
                "  daphne RSS",
                f"{megabytes(outcome.rss_before)} before, peak {megabytes(outcome.rss_peak)}, "
                f"{megabytes(outcome.rss_after)} after"
                + (f"; worker cluster peak {megabytes(outcome.worker_rss_peak)}" if worker else ""),
            ),
            (
                "  others' bookings list",
                f"p50 {outcome.p50 * 1000:.0f} ms, p99 {outcome.p99 * 1000:.0f} ms ({outcome.requests} requests, "
                f"{outcome.errors} failed); p99 {ratio:.1f}× the baseline",
            ),
        ]
        targets += [
            Target(
                f"{outcome.label}: daphne peak {megabytes(outcome.rss_peak)} < {TARGET_RSS_MB} MB",
                outcome.rss_peak < TARGET_RSS_MB * 2**20,
            ),
            Target(
                f"{outcome.label}: others' p99 {outcome.p99 * 1000:.0f} ms < {TARGET_P99_S * 1000:.0f} ms "
                f"and ≤ {TARGET_P99_RATIO:.0f}× baseline ({ratio:.1f}×)",
                outcome.p99 < TARGET_P99_S and ratio <= TARGET_P99_RATIO and not outcome.errors,
            ),
        ]
        if outcome.label.startswith("attack"):
            targets.append(Target(f"{outcome.label}: {outcome.shown[:90]}", outcome.shown.startswith("refused")))
        else:
            targets.append(Target(f"{outcome.label}: previewed ({outcome.shown})", "new" in outcome.shown))
    report("uploads — the worst allowed files and the issue's attacks, one daphne process", rows_out, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
