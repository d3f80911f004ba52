"""Two ways for Redis to be down, as addresses a test can point ``REDIS_URL`` (or one setting) at.

- ``refusing()``: a port that is bound but never listens, so every connection is refused at once
  (and, being held, no other test can start a server on it meanwhile).
- ``silent()``: a server that accepts connections and never answers, like a Redis stuck on a
  full disk or a network that drops replies; it counts the connections it accepted, which is how
  many times a client tried it.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@contextmanager
def refusing() -> Iterator[str]:
    """A ``redis://`` URL whose connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listen(): a connect gets a reset
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


@dataclass
class Silent:
    url: str
    accepted: int = 0
    connections: list[socket.socket] = field(default_factory=list)


@contextmanager
def silent() -> Iterator[Silent]:
    """A ``redis://`` server that accepts and never replies; ``.accepted`` counts the attempts."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = Silent(url=f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    stop = threading.Event()

    def serve() -> None:
        # select() with a timeout so that ``stop`` is seen; accepted sockets are kept open (and
        # never read), so a client waits for its reply until its own timeout.
        while not stop.is_set():
            ready, _, _ = select.select([listener], [], [], 0.05)
            if ready:
                connection, _ = listener.accept()
                server.connections.append(connection)
                server.accepted += 1

    thread = threading.Thread(target=serve, name="silent-redis", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join()
        for connection in server.connections:
            connection.close()
        listener.close()
