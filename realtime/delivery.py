"""Getting envelopes from synchronous code (services, after commit) onto the channel layer.

Two layers, two routes:

- In-memory layer (the embedded default): only sockets of *this* process can listen, on the ASGI
  server's event loop. If no group has a member here (a worker, a shell, a benchmark) there is
  nobody to tell and nothing is sent; otherwise ``async_to_sync`` runs the sends on the server's
  loop, which is where the layer's queues live.
- Any other layer (channels-redis): one long-lived event loop thread per process sends in the
  background. The request or task that committed does not wait for Redis, and the layer keeps
  its connection pool instead of opening a connection per event loop per call.

Besides events, the same routes carry control messages for the sockets themselves (their own
layer ``type``, e.g. ``access.changed``: see realtime/access.py), in commit order with the events.

Failures are logged, never raised: the business change has already committed.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from itertools import groupby
from operator import itemgetter
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)

LAYER_MESSAGE_TYPE = "event.message"  # the consumer's handler is ``event_message``
BATCH = 100  # deliveries the courier sends together at most (those queued while it was sending)

# (envelope, groups, ids of the people a notification was stored for: their bell counts it)
Delivery = tuple[dict[str, Any], Sequence[str], Sequence[int]]
# Deliveries not built yet: built only where and when they are sent (``deliver_later``).
Builder = Callable[[], list[Delivery]]
# What goes onto the layer: a message with its layer ``type`` (the consumer's handler), and groups.
LayerMessage = tuple[dict[str, Any], Sequence[str]]


def deliver(deliveries: list[Delivery]) -> Future | None:
    """Send each envelope to its groups. Returns the background future for a non-memory layer."""
    layer = get_channel_layer()
    if layer is None or not deliveries:
        return None
    if isinstance(layer, InMemoryChannelLayer):
        if layer.groups:  # else no socket in this process listens to anything
            _send_here(layer, _layer_messages(deliveries))
        return None
    return _courier.submit(layer, lambda: _layer_messages(deliveries))


def deliver_control(message: dict[str, Any], groups: Sequence[str]) -> Future | None:
    """Send a control message (``message["type"]`` names the consumer's handler) to ``groups``."""
    layer = get_channel_layer()
    if layer is None or not groups:
        return None
    if isinstance(layer, InMemoryChannelLayer):
        _send_here(layer, [(message, list(groups))])
        return None
    return _courier.submit(layer, lambda: [(message, list(groups))])


def _send_here(layer: InMemoryChannelLayer, messages: list[LayerMessage]) -> None:
    """The in-memory route: only groups with a member in this process are sent to."""
    wanted = [(m, [g for g in groups if g in layer.groups]) for m, groups in messages]
    wanted = [(m, groups) for m, groups in wanted if groups]
    if wanted:
        try:
            async_to_sync(_send)(layer, wanted)
        except Exception:
            logger.exception("Could not deliver %d realtime message(s)", len(wanted))


def deliver_later(build: Builder) -> Future | None:
    """``deliver(build())``, but ``build`` runs only if the envelopes can reach anyone, and for a
    non-memory layer on the courier thread, so the caller does not wait while they are built.

    For a large batch that stores no notifications (an expiry sweep's events for sessions without
    a tutor): a worker whose in-memory layer nobody listens to never builds them at all.
    """
    layer = get_channel_layer()
    if layer is None:
        return None
    if isinstance(layer, InMemoryChannelLayer):
        if not layer.groups:
            return None
        try:
            deliveries = build()
        except Exception:
            logger.exception("Could not build realtime events")
            return None
        return deliver(deliveries)
    return _courier.submit(layer, lambda: _layer_messages(build()))


def _layer_messages(deliveries: list[Delivery]) -> list[LayerMessage]:
    return [
        ({"type": LAYER_MESSAGE_TYPE, "event": message, "for": list(recipients)}, groups)
        for message, groups, recipients in deliveries
    ]


async def _send(layer: Any, messages: list[LayerMessage]) -> None:
    if hasattr(layer, "group_send_many"):  # the project's Redis layer: fewer round trips (realtime.layers)
        await layer.group_send_many(messages)
        return
    for message, groups in messages:
        for group in groups:
            await layer.group_send(group, message)


class _Courier:
    """A daemon thread running one event loop that sends deliveries one after another, in the order
    they were committed (a UI must never see a booking cancelled before it was created); those
    queued while it was sending go out together. Started on first use, and again in a forked child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._pid: int | None = None
        self._pending: set[Future] = set()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                self._queue = asyncio.Queue()  # binds to the loop that first awaits it: ours
                threading.Thread(target=loop.run_forever, name="realtime-courier", daemon=True).start()
                asyncio.run_coroutine_threadsafe(self._drain(), loop)
                self._loop, self._pid = loop, os.getpid()
                self._pending = set()
            return self._loop

    def submit(self, layer: Any, build: Callable[[], list[LayerMessage]]) -> Future:
        """Queue ``build`` (called on the courier thread) and send what it returns to ``layer``."""
        loop = self._ensure_loop()
        done: Future = Future()
        self._pending.add(done)
        done.add_done_callback(self._pending.discard)
        loop.call_soon_threadsafe(self._queue.put_nowait, (layer, build, done))
        return done

    async def _drain(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # What else committed while the last batch was being sent goes out with it, in order: one
            # read of the groups' members for all of it (realtime.layers), not one per commit. Under a
            # burst of payments (bench/payment_callbacks.py) that took one daphne process from 144
            # to 152-196 callbacks/s, from 21.9 % of its /healthz to 26.1-28.2 %.
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            for layer, run in groupby(batch, key=itemgetter(0)):  # one layer in practice
                await self._send_run(layer, list(run))

    @staticmethod
    async def _send_run(layer: Any, run: list[tuple[Any, Callable[[], list[LayerMessage]], Future]]) -> None:
        messages: list[LayerMessage] = []
        for _, build, _ in run:
            try:
                messages += build()
            except Exception:
                logger.exception("Could not build realtime events")
        try:
            await _send(layer, messages)
        except Exception:
            logger.exception("Could not deliver realtime events")
        finally:
            for _, _, done in run:
                done.set_result(None)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait for sends in flight (a management command is about to exit, a test wants them out)."""
        for future in list(self._pending):
            try:
                future.result(timeout=timeout)
            except Exception:
                logger.warning("A realtime delivery did not finish before exit")


_courier = _Courier()
flush = _courier.flush
atexit.register(flush)
