"""Time for the sensor scheduler, passed in so tests run on a fake clock (STYLE.md rule 2)."""

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
