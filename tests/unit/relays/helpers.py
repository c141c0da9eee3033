"""Test helpers for the relay controller: an asyncio fake clock and a subscriber that can be awaited."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gateway.broker.local import LocalMessage
from tests.fakes.local_bus import MemoryBus

WALL_OFFSET = 1_700_000_000.0


class FakeClock:
    """`monotonic()` moves only on `advance()`; `time()` is it plus a fixed epoch offset; sleepers wake
    when `advance()` passes their deadline."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + WALL_OFFSET

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self.now:
            return
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((deadline, future))
        await future

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, future in self._sleepers:
            if deadline <= self.now and not future.done():
                future.set_result(None)
        self._sleepers = [(d, f) for d, f in self._sleepers if not f.done()]


class Watcher:
    """Collects messages on a topic filter; `next()` awaits the next one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[LocalMessage] = asyncio.Queue()

    @classmethod
    async def on(cls, bus: MemoryBus, topic_filter: str) -> Watcher:
        watcher = cls()
        await bus.client(f"watch-{topic_filter}").subscribe(topic_filter, watcher.queue.put_nowait)
        return watcher

    async def next(self) -> LocalMessage:
        return await asyncio.wait_for(self.queue.get(), 2)

    async def next_json(self) -> Any:
        return json.loads((await self.next()).payload)

    def drain(self) -> list[LocalMessage]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out
