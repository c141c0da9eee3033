"""A clock the test drives, for code that takes `monotonic()`, `time()` and `async sleep()`.

`advance_to(t, settled)` moves time forward deadline by deadline: it wakes the sleepers due, then
waits (a bounded real wait: woken code may be doing work in threads) until `settled()` says the
system is at rest again, before going on. `sleeping(prefix)` counts the tasks, by name prefix, that
are blocked in `sleep()` — the usual way to write `settled`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

EPOCH = 1_717_243_200.0  # 2024-06-01T12:00:00Z


class FakeClock:
    def __init__(self, start: float = 0.0, epoch: float = EPOCH) -> None:
        self.now = start
        self.epoch = epoch
        self._heap: list[tuple[float, int, asyncio.Future, str]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        task = asyncio.current_task()
        name = task.get_name() if task else ""
        heapq.heappush(self._heap, (self.now + max(0.0, seconds), next(self._seq), future, name))
        await future

    def jump(self, seconds: float) -> None:
        """Move the wall clock (`time()`) by `seconds` without the monotonic clock: NTP correcting
        a Pi that booted with a wrong clock, or someone setting the date."""
        self.epoch += seconds

    def sleeping(self, prefix: str = "") -> int:
        return sum(1 for _, _, f, name in self._heap if not f.done() and name.startswith(prefix))

    async def settle(self, settled: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not settled():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the system did not settle")
            await asyncio.sleep(0.001)
        for _ in range(3):  # let callbacks queued by the last step run
            await asyncio.sleep(0)

    async def advance_to(self, target: float, settled: Callable[[], bool]) -> None:
        await self.settle(settled)
        while self._heap and self._heap[0][0] <= target:
            self.now = max(self.now, self._heap[0][0])
            while self._heap and self._heap[0][0] <= self.now:
                _, _, future, _ = heapq.heappop(self._heap)
                if not future.done():
                    future.set_result(None)
            await self.settle(settled)
        self.now = target
