"""One listener per group per process: an event is taken off the channel layer once, then written
to every socket of this process in the group.

Each socket receiving from the layer itself cost a receive (a wake-up, channels-redis's receive
lock and buffer juggling, channels' dispatch) per socket per event: with 250 staff screens on one
daphne, a staff event was taken off the layer 250 times, and at 5 bookings a second the process
fell seconds behind (bench/ws_fanout.py). Here the process's sockets in ``staff`` share one layer
channel, so the layer (in-memory or Redis) holds one member per process and group, and the event
is relayed in a plain loop.

Only the event groups go through here (``staff``, ``tutor.<id>``, ``session.<id>``). A socket's
own control group (``user.<id>``, realtime/access.py) stays on its own channel: it is rare, and
its handler reads the database.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Member(Protocol):
    async def relay(self, message: dict[str, Any]) -> None: ...

    async def lost_layer(self) -> None: ...


@dataclass(eq=False)
class _Group:
    members: set[Member] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    channel: str = ""
    listener: asyncio.Task | None = None
    failed: BaseException | None = None


class Fanout:
    """The groups this process listens to on ``layer``, on one event loop."""

    def __init__(self, layer: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.layer = layer
        self.loop = loop
        self.groups: dict[str, _Group] = {}

    async def join(self, group: str, member: Member) -> None:
        """Add ``member``; returns once the process listens to ``group`` (nothing sent after is missed)."""
        entry = self.groups.get(group)
        if entry is not None:
            entry.members.add(member)
            await entry.ready.wait()
            if entry.failed is not None:
                raise entry.failed
            return
        entry = self.groups[group] = _Group(members={member})
        try:
            entry.channel = await self.layer.new_channel()
            await self.layer.group_add(group, entry.channel)
        except BaseException as exc:
            entry.failed = exc
            if self.groups.get(group) is entry:
                del self.groups[group]
            raise
        finally:
            entry.ready.set()
        entry.listener = asyncio.create_task(self._listen(group, entry), name=f"fanout:{group}")

    async def leave(self, group: str, member: Member) -> None:
        entry = self.groups.get(group)
        if entry is None:
            return
        entry.members.discard(member)
        if entry.members:
            return
        await entry.ready.wait()
        if entry.members or self.groups.get(group) is not entry:
            return  # someone joined meanwhile, or the entry is already gone
        del self.groups[group]
        if entry.listener is not None:
            entry.listener.cancel()
        if entry.failed is None:
            await self.layer.group_discard(group, entry.channel)

    async def _listen(self, group: str, entry: _Group) -> None:
        while True:
            try:
                message = await self.layer.receive(entry.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The layer is gone (Redis down or hung past its timeout). The group's sockets are
                # told to connect again, and replay what they missed once the layer is back.
                logger.exception("Lost the channel layer while listening to %s", group)
                if self.groups.get(group) is entry:
                    del self.groups[group]
                for member in list(entry.members):
                    await member.lost_layer()
                return
            for member in list(entry.members):
                try:
                    await member.relay(message)
                except Exception:
                    logger.exception("Could not relay a %s message to a socket", group)


_fanouts: dict[tuple[int, int], Fanout] = {}


def fanout_for(layer: Any) -> Fanout:
    """The process's fan-out for ``layer`` on the running event loop (tests run one loop each)."""
    loop = asyncio.get_running_loop()
    key = (id(layer), id(loop))
    fanout = _fanouts.get(key)
    if fanout is None or fanout.layer is not layer or fanout.loop is not loop:
        for stale in [k for k, f in _fanouts.items() if f.loop.is_closed()]:
            del _fanouts[stale]
        fanout = _fanouts[key] = Fanout(layer, loop)
    return fanout
