"""Reconnect delays: exponential backoff with full jitter and a cap (pure; randomness injected).

Attempt n (0-based) waits a uniform random time in [0, min(cap, initial * 2**n)] ("full jitter",
so a fleet of gateways does not reconnect in lock-step after a cloud outage); the ceiling is
gateway.retry's `doubling_delay`, the capped doubling every retry loop of the gateway uses. A
connection that stayed up for `stable_after` seconds resets the count.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from gateway.retry import doubling_delay


class Backoff:
    def __init__(
        self,
        initial: float = 1.0,
        cap: float = 120.0,
        stable_after: float = 30.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or cap < initial:
            raise ValueError("backoff needs 0 < initial <= cap")
        self.initial = initial
        self.cap = cap
        self.stable_after = stable_after
        self._rand = rand
        self.attempts = 0
        self._up_since: float | None = None

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        return doubling_delay(self.initial, self.attempts, self.cap)

    def next_delay(self) -> float:
        """The delay before the next attempt; counts the attempt."""
        delay = self._rand() * self.ceiling()
        self.attempts += 1
        return delay

    def connected(self, now: float) -> None:
        self._up_since = now

    def disconnected(self, now: float) -> None:
        if self._up_since is not None and now - self._up_since >= self.stable_after:
            self.attempts = 0
        self._up_since = None
