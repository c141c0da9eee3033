"""When to look at each I2C expander again: pure bookkeeping, `now` in, keys out.

How it works: every chip the relay controller opened is tracked with its check interval (the
shortest `check_interval` of its outputs; None = no periodic check). While a chip answers, a
read-back check is due every interval, and at once after an I/O error on one of its outputs
(`suspect`). Once it does not answer (`lose`) it is tried again after `retry_first` seconds, the
wait doubling after each failed try up to `retry_max`; when it answers (`answered`) the checks
resume. The controller does the I/O; this module only says what is due.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.retry import doubling_delay

K = TypeVar("K", bound=Hashable)


@dataclass(slots=True)
class _Chip:
    interval: float | None
    check_at: float | None
    lost_since: float | None = None
    failures: int = 0  # failed tries since it was lost
    retry_at: float | None = None


class DeviceWatch(Generic[K]):
    def __init__(self, retry_first: float, retry_max: float) -> None:
        if not 0 < retry_first <= retry_max:
            raise ValueError(f"need 0 < retry_first <= retry_max, got {retry_first}, {retry_max}")
        self._retry_first, self._retry_max = retry_first, retry_max
        self._chips: dict[K, _Chip] = {}

    def track(self, key: K, interval: float | None, now: float) -> None:
        """Start watching a chip that answers (nothing if it is tracked already)."""
        if key not in self._chips:
            self._chips[key] = _Chip(interval, now + interval if interval else None)

    def retune(self, key: K, interval: float | None, now: float) -> None:
        """A reload changed the chip's check interval: the next check counts from `now`."""
        chip = self._chips.get(key)
        if chip is not None and chip.interval != interval:
            chip.interval = interval
            if chip.lost_since is None:
                self.checked(key, now)

    def untrack(self, key: K) -> None:
        """No output uses the chip any more (a reload removed them)."""
        self._chips.pop(key, None)

    def is_lost(self, key: K) -> bool:
        chip = self._chips.get(key)
        return chip is not None and chip.lost_since is not None

    def lost_since(self, key: K) -> float | None:
        return self._chips[key].lost_since

    def due(self, now: float) -> tuple[list[K], list[K]]:
        """(chips whose read-back check is due, lost chips whose next try is due)."""
        checks = [
            k
            for k, c in self._chips.items()
            if c.lost_since is None and c.check_at is not None and c.check_at <= now
        ]
        retries = [
            k for k, c in self._chips.items() if c.retry_at is not None and c.retry_at <= now
        ]
        return checks, retries

    def next_deadline(self) -> float | None:
        times = [c.check_at if c.lost_since is None else c.retry_at for c in self._chips.values()]
        return min((t for t in times if t is not None), default=None)

    def suspect(self, key: K, now: float) -> None:
        """An I/O error on one of its outputs: check the chip at once."""
        chip = self._chips.get(key)
        if chip is not None and chip.lost_since is None:
            chip.check_at = now

    def checked(self, key: K, now: float) -> None:
        """A check answered: the next one after the interval."""
        chip = self._chips[key]
        chip.check_at = now + chip.interval if chip.interval else None

    def lose(self, key: K, now: float) -> None:
        """It did not answer: try again after retry_first."""
        chip = self._chips[key]
        chip.lost_since, chip.failures = now, 0
        chip.check_at, chip.retry_at = None, now + self._retry_first

    def still_lost(self, key: K, now: float) -> int:
        """A try failed: the next after a doubled wait (capped). Returns the failed tries so far."""
        chip = self._chips[key]
        chip.failures += 1
        chip.retry_at = now + doubling_delay(self._retry_first, chip.failures, self._retry_max)
        return chip.failures

    def answered(self, key: K, now: float) -> None:
        """It answers again (or was set up again after a reset): checks resume."""
        chip = self._chips[key]
        chip.lost_since, chip.retry_at, chip.failures = None, None, 0
        self.checked(key, now)
