"""Log lines about events an attacker can repeat at will, at most one per cause per interval.

A flood of refused connections or failed TLS handshakes must not flood the journal (journald then
drops real messages). `RateLimitedLog.log(level, cause, msg, *args)` writes the first event of a
cause, then holds that cause's further events back for `interval` seconds and counts them; the
next line written for the cause says how many were held back ("... (and 4,211 more in the last
10 s)"). `flush()` (the broker calls it every timer tick) writes the last held-back event of a
cause whose interval is over with the same count, so a flood that stops is still summed up. The
exact totals are the `$SYS` counters; these lines are what an operator greps.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable

_ALL: weakref.WeakSet[RateLimitedLog] = weakref.WeakSet()


def flush_all() -> None:
    """Flush every live RateLimitedLog (the broker's timer calls this about once a second)."""
    for ratelog in list(_ALL):
        ratelog.flush()


class RateLimitedLog:
    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._since: dict[str, float] = {}  # cause -> when its last line was written
        self._held: dict[str, int] = {}  # cause -> events held back since that line
        self._last: dict[str, tuple] = {}  # cause -> the last held-back event, for flush()
        _ALL.add(self)

    def log(
        self,
        level: int,
        cause: str,
        msg: str,
        *args: object,
        logger: logging.Logger | None = None,
        **kwargs: object,
    ) -> bool:
        """Write the line now (to `logger`, default this one's), or count it as held back;
        True when it was written."""
        now = self.clock()
        since = self._since.get(cause)
        if since is not None and now - since < self.interval:
            self._held[cause] = self._held.get(cause, 0) + 1
            self._last[cause] = (logger, level, msg, args, kwargs)
            return False
        self._last.pop(cause, None)
        self._write(logger, level, msg, args, kwargs, self._held.pop(cause, 0), since, now)
        self._since[cause] = now
        return True

    def flush(self) -> None:
        """Sum up each cause whose interval is over and that held events back: its last held
        event is written with the count of the others."""
        now = self.clock()
        for cause, (logger, level, msg, args, kwargs) in list(self._last.items()):
            since = self._since[cause]
            if now - since < self.interval:
                continue
            del self._last[cause]
            self._write(logger, level, msg, args, kwargs, self._held.pop(cause) - 1, since, now)
            self._since[cause] = now

    def _write(
        self,
        logger: logging.Logger | None,
        level: int,
        msg: str,
        args: tuple,
        kwargs: dict,
        held: int,
        since: float | None,
        now: float,
    ) -> None:
        if held and since is not None:
            msg += " (and %s more in the last %.0f s)"
            args = (*args, f"{held:,}", now - since)
        (logger or self.logger).log(level, msg, *args, **kwargs)
