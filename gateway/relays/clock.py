"""The clock the relay controller runs on: injected, so tests drive time by hand.

`monotonic()` times the safety rules and timers; `time()` (epoch seconds) checks command expiry;
`sleep_until(deadline)` waits for a `monotonic()` moment. Only the glue sleeps.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def time(self) -> float: ...
    async def sleep_until(self, deadline: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))


SYSTEM_CLOCK = SystemClock()
