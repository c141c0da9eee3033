"""Log lines about events an attacker can repeat at will, at most one per cause per interval.

A flood of refused connections or failed TLS handshakes must not flood the journal (journald then
drops real messages). `RateLimitedLog.log(level, cause, msg, *args)` writes the first event of a
cause, then holds that cause's further events back for `interval` seconds and counts them; the
next line written for the cause says how many were held back ("... (and 4,211 more in the last
10 s)"). The exact totals are the `$SYS` counters; these lines are what an operator greps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._since: dict[str, float] = {}  # cause -> when its last line was written
        self._held: dict[str, int] = {}  # cause -> events held back since that line

    def log(self, level: int, cause: str, msg: str, *args: object, **kwargs: object) -> bool:
        """Write the line now, or count it as held back; True when it was written."""
        now = self.clock()
        since = self._since.get(cause)
        if since is not None and now - since < self.interval:
            self._held[cause] = self._held.get(cause, 0) + 1
            return False
        held = self._held.pop(cause, 0)
        if held:
            msg += " (and %s more in the last %.0f s)"
            args = (*args, f"{held:,}", now - since)  # type: ignore[operator]
        self._since[cause] = now
        self.logger.log(level, msg, *args, **kwargs)  # type: ignore[arg-type]
        return True
