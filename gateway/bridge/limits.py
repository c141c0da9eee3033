"""Per-bridge rate limit and message age (pure, `now` passed in).

`TokenBucket`: at most `rate` messages per second with a burst of `burst` (0 = unlimited); the glue
asks `take(now)` before sending and `wait(now)` for how long to pause.

`ArrivalClock`: when did a queued message arrive? Messages carry an increasing number (the broker's
sequence number, or the store's queue row id); the clock records (number, time) checkpoints at most
once per `resolution` seconds, and a message's arrival time is that of the first checkpoint at or
after its number (so its age is known to within `resolution`, never over-estimated). Messages older
than the first checkpoint (restored from disk after a restart) count from the start of this run.
`last_before(t)` turns an age limit into a number: everything up to it arrived before `t`, so the
store can drop those rows with one range query. The checkpoint list is bounded (`max_checkpoints`,
the oldest thinned out first).
"""

from __future__ import annotations

import bisect
from collections import deque


class TokenBucket:
    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.tokens = float(self.burst)
        self.at = now

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _refill(self, now: float) -> None:
        if now > self.at:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def take(self, now: float) -> bool:
        if self.unlimited:
            return True
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0 when one is)."""
        if self.unlimited:
            return 0.0
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class ArrivalClock:
    def __init__(
        self, seq: int, now: float, resolution: float = 1.0, max_checkpoints: int = 100_000
    ) -> None:
        self.resolution = resolution
        self.max_checkpoints = max_checkpoints
        self._seqs: deque[int] = deque([seq])
        self._times: deque[float] = deque([now])

    def record(self, seq: int, now: float) -> None:
        """Called on every timer tick with the broker's current sequence number: messages up to
        `seq` had arrived by `now`."""
        if seq == self._seqs[-1]:
            return
        if len(self._seqs) > 1 and now - self._times[-2] < self.resolution:
            self._seqs[-1] = seq  # within one resolution step of the one before: widen the last
            self._times[-1] = now
            return
        self._seqs.append(seq)
        self._times.append(now)
        if len(self._seqs) > self.max_checkpoints:
            self._seqs.popleft()
            self._times.popleft()

    def arrived(self, seq: int) -> float:
        """Latest time by which message `seq` had arrived (the start of the run for older ones)."""
        seqs = self._seqs
        if seq <= seqs[0]:
            return self._times[0]
        index = bisect.bisect_left(seqs, seq)
        if index >= len(seqs):
            return self._times[-1]
        return self._times[index]

    def age(self, seq: int, now: float) -> float:
        return max(0.0, now - self.arrived(seq))

    def last_before(self, t: float) -> int | None:
        """The highest number that had certainly arrived before `t` (every number up to it is
        older than `t`, every later one counts as arriving at `t` or after); None: none had."""
        index = bisect.bisect_left(self._times, t)  # checkpoints before `t`: [0, index)
        return self._seqs[index - 1] if index else None

    def prune(self, oldest_seq: int) -> None:
        """Forget checkpoints no queued message needs (all before the one covering `oldest_seq`)."""
        while len(self._seqs) > 1 and self._seqs[1] < oldest_seq:
            self._seqs.popleft()
            self._times.popleft()
