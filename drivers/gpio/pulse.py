"""Pulse counter for flow meters, energy meters and rain gauges with a pulse (S0, reed) output.

Counts debounced activations (inactive -> active edges) of an input pin and reports three quantities:

* ``count``            raw pulses counted: from 0, or from the count given to `restore()` (the
                       gateway's `persist = true` saves it and restores it at the next start, so
                       the total survives restarts; without it a restart resets the counter),
* `total_quantity`     count × `factor` in `total_unit` (e.g. 0.5 L per pulse -> litres),
* `rate_quantity`      factor × pulses per `rate_per` seconds, averaged since the previous read()
                       (since open() for the first), e.g. rate_per=60 gives litres per minute; for an
                       energy meter with factor = Wh per pulse and rate_per=3600 the rate is watts.

Time for the rate comes from the injected `clock` (monotonic seconds).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from drivers.base import DriverError, Reading
from drivers.gpio.edges import EdgeInput


class PulseCounter(EdgeInput):
    def __init__(
        self,
        pin: int | str,
        *,
        pull: str = "up",
        active_low: bool | None = None,
        bounce_time: float | None = None,
        factor: float = 1.0,
        total_quantity: str = "total",
        total_unit: str = "",
        rate_quantity: str = "rate",
        rate_unit: str = "/s",
        rate_per: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        pin_factory: Any = None,
    ) -> None:
        super().__init__(pin, pull, active_low, bounce_time, pin_factory)
        for label, value in (("factor", factor), ("rate_per", rate_per)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive number, not {value!r}")
        names = {"count", total_quantity, rate_quantity}
        if len(names) != 3 or "" in names:
            raise ValueError("count, total_quantity and rate_quantity must be three distinct names")
        self.factor, self.rate_per = factor, rate_per
        self.total_quantity, self.rate_quantity = total_quantity, rate_quantity
        self.quantities = (("count", ""), (total_quantity, total_unit), (rate_quantity, rate_unit))
        self._clock = clock
        self._lock = threading.Lock()
        self._count = 0
        self._active = False
        self._mark: tuple[float, int] = (0.0, 0)  # (time, count) at the previous read
        self._rate = 0.0

    @property
    def count(self) -> int:
        """The pulses counted so far (what the gateway saves with `persist = true`)."""
        with self._lock:
            return self._count

    def restore(self, count: int) -> None:
        """Continue from `count` pulses (saved before a restart). Call it before open()."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"a pulse count is a whole number >= 0, not {count!r}")
        with self._lock:
            self._count = count

    def open(self) -> None:
        self._active = self._open_pin()
        self._mark = (self._clock(), self.count)  # the first rate counts from here
        self._listen()

    def read(self) -> list[Reading]:
        if self._device is None:
            raise DriverError(f"pulse counter on pin {self.pin_number} is not open")
        now = self._clock()
        with self._lock:
            count = self._count
        then, previous = self._mark
        if now > then:
            self._rate = (count - previous) * self.factor * self.rate_per / (now - then)
            self._mark = (now, count)
        units = dict(self.quantities)
        return [
            Reading("count", count),
            Reading(self.total_quantity, count * self.factor, units[self.total_quantity]),
            Reading(self.rate_quantity, self._rate, units[self.rate_quantity]),
        ]

    def _edge(self, active: bool) -> None:
        with self._lock:
            if active and not self._active:
                self._count += 1
            self._active = active
