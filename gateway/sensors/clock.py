"""Time for the sensor scheduler, passed in so tests run on a fake clock.

Time is an argument: schedules, timeouts and `max_silence` are then tested by moving a fake
clock, never by sleeping, so the tests are fast and do not depend on the machine's load.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...  # schedules, timeouts, max_silence
    def time(self) -> float: ...  # wall time for payload timestamps
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
