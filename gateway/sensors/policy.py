"""The pure decisions of the sensor scheduler: when to read next, when to publish, when a sensor is
online. No I/O and no clock of their own: `now` is an argument."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeGuard

from drivers.base import Reading
from gateway.retry import doubling_delay
from gateway.sensors.topics import OFFLINE, ONLINE


def backoff_delay(interval: float, failures: int, cap: float) -> float:
    """Delay before the next attempt after `failures` consecutive failures: the interval, then
    doubling (2×, 4× ...), never more than `cap`."""
    if failures <= 0:
        return interval
    return doubling_delay(interval, failures - 1, cap)


def next_due(due: float, now: float, interval: float) -> float:
    """Fixed-rate schedule: the next slot after `due`; slots missed by a slow read are skipped
    (no burst of catch-up reads)."""
    due += interval
    if due <= now:
        due += (math.floor((now - due) / interval) + 1) * interval
    return due


@dataclass(frozen=True, slots=True)
class ChangeFilter:
    """Publish-on-change: with `on_change` a reading is published when a quantity moved beyond its
    deadband (default 0: any change) since the last *published* value, when a quantity is new, or
    when `max_silence` seconds passed since the last publish. Without `on_change` every read is."""

    on_change: bool = False
    deadband: Mapping[str, float] = field(default_factory=dict)
    max_silence: float | None = None

    def should_publish(
        self,
        readings: Sequence[Reading],
        last: Mapping[str, object] | None,
        last_time: float | None,
        now: float,
    ) -> bool:
        if not self.on_change or last is None or last_time is None:
            return True
        if self.max_silence is not None and now - last_time >= self.max_silence:
            return True
        return any(self._changed(r, last.get(r.quantity)) for r in readings)

    def _changed(self, reading: Reading, previous: object) -> bool:
        value = reading.value
        if previous is None:
            return True
        if _is_number(value) and _is_number(previous):
            return abs(value - previous) > self.deadband.get(reading.quantity, 0.0)
        return value != previous


def _is_number(value: object) -> TypeGuard[float]:  # int or float, not bool
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Availability:
    """online after a success; offline after `offline_after` consecutive failures, or at once when
    the device is unavailable. Each method returns the payload to publish when the state changes,
    else None."""

    def __init__(self, offline_after: int) -> None:
        self.offline_after = offline_after
        self.online: bool | None = None
        self.consecutive_failures = 0

    def success(self) -> bytes | None:
        self.consecutive_failures = 0
        if self.online is True:
            return None
        self.online = True
        return ONLINE

    def failure(self) -> bytes | None:
        self.consecutive_failures += 1
        if self.consecutive_failures < self.offline_after or self.online is False:
            return None
        self.online = False
        return OFFLINE

    def unavailable(self) -> bytes | None:
        """A failure that needs no confirmation (the device cannot even be opened): offline at
        once, whatever `offline_after` says."""
        self.consecutive_failures += 1
        if self.online is False:
            return None
        self.online = False
        return OFFLINE
