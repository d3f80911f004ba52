"""The channel layer on Redis: channels-redis's, sending a batch of messages with fewer round trips.

A change publishes a few messages at once, each to a few groups (a payment: ``booking.confirmed``
to the staff, the session and the student, ``payment.received`` to the staff). channels-redis's
``group_send`` asks Redis for a group's members before it sends (two round trips: the expired
members dropped, the rest read), then sends to them: for a paid booking, eight round trips before
anything is sent, most of them to groups nobody is in at that moment (no student app open, nobody
watching that session). On the courier's thread that was a tenth of a payment callback's CPU
(bench/payment_callbacks.py).

``group_send_many`` asks once per Redis server for every group of the batch (in one pipeline: the
same expiry, then the member count) and sends each message, in order, with channels-redis's own
``group_send``, to the groups that have members. A socket joining a group while the batch is sent
may miss a message of it, as it may between channels-redis's own read of the members and its send;
a socket that joined replays what it missed (``?since=``, realtime.consumers).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from channels_redis.core import RedisChannelLayer as ChannelsRedisLayer


class RedisChannelLayer(ChannelsRedisLayer):
    async def group_send_many(self, messages: Sequence[tuple[dict[str, Any], Sequence[str]]]) -> None:
        """Send each ``(message, groups)`` in order; the groups' members read in one round trip per server."""
        groups = list(dict.fromkeys(group for _, names in messages for group in names))
        by_server: dict[int, list[str]] = {}
        for group in groups:
            assert self.require_valid_group_name(group), "Group name not valid"
            by_server.setdefault(self.consistent_hash(group), []).append(group)
        listened: set[str] = set()
        for index, names in by_server.items():
            pipe = self.connection(index).pipeline(transaction=False)
            expired = int(time.time()) - self.group_expiry
            for group in names:
                key = self._group_key(group)
                pipe.zremrangebyscore(key, min=0, max=expired)  # as group_send drops them
                pipe.zcard(key)
            counts = (await pipe.execute())[1::2]
            listened.update(group for group, count in zip(names, counts, strict=True) if count)
        for message, names in messages:
            for group in names:
                if group in listened:
                    await self.group_send(group, message)
