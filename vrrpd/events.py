"""The ordered stream of what happens (transitions, priority and track changes, reloads),
for `vrrpctl events` and anything else that subscribes.

Each event is a JSON-friendly dict with `seq` (increasing), `time` (UTC, ISO 8601) and
`type`. A subscriber that cannot keep up loses its subscription (and is told so), rather than
making the daemon buffer without bound.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from typing import Any

Event = dict[str, Any]

QUEUE_LIMIT = 10_000


class EventBus:
    def __init__(self) -> None:
        self.seq = 0
        self._subscribers: list[asyncio.Queue[Event | None]] = []

    def publish(self, type_: str, **fields: Any) -> Event:
        self.seq += 1
        event: Event = {
            "seq": self.seq,
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds"),
            "type": type_,
            **fields,
        }
        for q in list(self._subscribers):
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                self._subscribers.remove(q)
                q.get_nowait()
                q.put_nowait(None)  # tell the reader it was dropped
        return event

    async def subscribe(self) -> AsyncIterator[Event]:
        """Events from now on, until the caller stops iterating (or falls too far behind)."""
        q: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers.append(q)
        try:
            while True:
                event = await q.get()
                if event is None:
                    yield {"type": "dropped", "why": "subscriber too slow"}
                    return
                yield event
        finally:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def close(self) -> None:
        for q in self._subscribers:
            while not q.empty():
                q.get_nowait()
            q.put_nowait(None)
        self._subscribers.clear()
