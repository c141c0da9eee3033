"""A simulated sensor for every quantity the gateway knows, for the no-hardware demo and for tests.

How the values are made: each quantity has a `Profile` (PROFILES, one table). A numeric value is a
daily curve — mean + amplitude·cos(2π(hour − peak_hour)/24), hour of day from the injected wall
clock — plus a mean-reverting random walk (an Ornstein–Uhlenbeck process: it wanders by `volatility`
per √hour and is pulled back at `reversion` per hour), bounded by the physical limits of the
quantity. A boolean state (contact, motion) flips at random, `flips_per_hour` times on average.
Everything random comes from one `random.Random(seed)`, so a seed and a fake clock make it exact.

Making it fail, for demos and tests: `fail_first` reads raise, then each read raises with
probability `error_rate`, or hangs for `hang_seconds` with probability `hang_rate` (close() releases
a hung read at once, so a test never leaves a thread behind).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from drivers.base import Driver, DriverError, Reading


@dataclass(frozen=True, slots=True)
class Profile:
    unit: str
    low: float  # physical limits: values never leave [low, high]
    high: float
    mean: float = 0.0
    amplitude: float = 0.0  # of the daily curve; negative puts the trough at peak_hour
    peak_hour: float = 15.0
    volatility: float = 0.0  # random-walk spread per sqrt(hour)
    reversion: float = 1.0  # per hour
    decimals: int | None = 2  # None: an integer quantity
    flips_per_hour: float = 0.0  # > 0 marks a boolean state


PROFILES: dict[str, Profile] = {
    "temperature": Profile("°C", -40, 85, 21.0, 2.5, 15, 0.6),
    "humidity": Profile("%", 0, 100, 50.0, -8.0, 15, 3.0, decimals=1),
    "pressure": Profile("hPa", 300, 1100, 1013.0, 0.8, 10, 1.5, 0.1),
    "illuminance": Profile("lx", 0, 100_000, 250.0, 450.0, 13, 60.0, 2.0, decimals=1),
    "voltage": Profile("V", 0, 60, 12.6, 0.3, 14, 0.05, 4.0, decimals=3),
    "current": Profile("A", 0, 50, 1.5, 0.8, 19, 0.3, 3.0, decimals=3),
    "power": Profile("W", 0, 10_000, 400.0, 250.0, 19, 80.0, 3.0, decimals=1),
    "pm1_0": Profile("µg/m³", 0, 1000, 4.0, 2.0, 8, 1.5, 2.0, decimals=None),
    "pm2_5": Profile("µg/m³", 0, 1000, 7.0, 3.0, 8, 2.5, 2.0, decimals=None),
    "pm10": Profile("µg/m³", 0, 1000, 11.0, 4.0, 8, 3.5, 2.0, decimals=None),
    "co2": Profile("ppm", 400, 5000, 650.0, 200.0, 14, 60.0, 1.0, decimals=None),
    "contact": Profile("", 0, 1, flips_per_hour=2.0),
    "motion": Profile("", 0, 1, flips_per_hour=12.0),
}


class SimulatedFailure(DriverError, OSError):
    """The failure a simulated sensor was told to produce."""


class Simulated(Driver):
    def __init__(
        self,
        quantities: Sequence[str] = ("temperature",),
        *,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        error_rate: float = 0.0,
        hang_rate: float = 0.0,
        hang_seconds: float = 60.0,
        fail_first: int = 0,
    ) -> None:
        _check(quantities, error_rate, hang_rate, hang_seconds, fail_first)
        self.quantities = tuple((q, PROFILES[q].unit) for q in quantities)
        self.error_rate, self.hang_rate, self.hang_seconds = error_rate, hang_rate, hang_seconds
        self._failures_left = fail_first
        self._clock = clock
        self._rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._walk: dict[str, float] = {}
        self._last_time: float | None = None
        self.reads = 0
        self.hanging = 0  # reads blocked in a simulated hang right now

    def open(self) -> None:
        self._release.clear()

    def close(self) -> None:
        self._release.set()

    def read(self) -> list[Reading]:
        with self._lock:
            self.reads += 1
            outcome = self._roll_outcome()
            if outcome == "ok":
                return self._measure(self._clock())
        if outcome == "hang":
            with self._lock:
                self.hanging += 1
            try:
                self._release.wait(self.hang_seconds)
            finally:
                with self._lock:
                    self.hanging -= 1
            raise SimulatedFailure(f"simulated read hung for {self.hang_seconds:g} s")
        raise SimulatedFailure("simulated read failure")

    def _roll_outcome(self) -> str:
        if self._failures_left > 0:
            self._failures_left -= 1
            return "error"
        roll = self._rng.random()
        if roll < self.hang_rate:
            return "hang"
        return "error" if roll < self.hang_rate + self.error_rate else "ok"

    def _measure(self, now: float) -> list[Reading]:
        hours = 0.0 if self._last_time is None else max(0.0, now - self._last_time) / 3600
        self._last_time = now
        hour_of_day = (now % 86400) / 3600
        return [
            Reading(q, self._value(q, PROFILES[q], hours, hour_of_day), unit)
            for q, unit in self.quantities
        ]

    def _value(
        self, quantity: str, p: Profile, hours: float, hour_of_day: float
    ) -> float | int | bool:
        if p.flips_per_hour:
            state = bool(self._walk.get(quantity, 0.0))
            if self._rng.random() < 1 - math.exp(-p.flips_per_hour * hours):
                state = not state
            self._walk[quantity] = float(state)
            return state
        walk = self._step(self._walk.get(quantity), p, hours)
        self._walk[quantity] = walk
        curve = p.mean + p.amplitude * math.cos(2 * math.pi * (hour_of_day - p.peak_hour) / 24)
        value = min(p.high, max(p.low, curve + walk))
        return round(value) if p.decimals is None else round(value, p.decimals)

    def _step(self, walk: float | None, p: Profile, hours: float) -> float:
        spread = p.volatility / math.sqrt(2 * p.reversion)  # the walk's stationary spread
        if walk is None:
            return self._rng.gauss(0.0, spread)
        decay = math.exp(-p.reversion * hours)
        return walk * decay + self._rng.gauss(0.0, spread * math.sqrt(1 - decay * decay))


def _check(
    quantities: Sequence[str],
    error_rate: float,
    hang_rate: float,
    hang_seconds: float,
    fail_first: int,
) -> None:
    if isinstance(quantities, str) or not quantities:
        raise ValueError("quantities must be a non-empty list of quantity names")
    unknown = [q for q in quantities if q not in PROFILES]
    if unknown or len(set(quantities)) != len(quantities):
        raise ValueError(
            f"unknown or repeated simulated quantities {unknown or list(quantities)}; "
            f"known: {', '.join(PROFILES)}"
        )
    for label, rate in (("error_rate", error_rate), ("hang_rate", hang_rate)):
        if not 0 <= rate <= 1:
            raise ValueError(f"{label} must be between 0 and 1, not {rate!r}")
    if error_rate + hang_rate > 1:
        raise ValueError("error_rate + hang_rate must not exceed 1")
    if not hang_seconds > 0 or fail_first < 0:
        raise ValueError("hang_seconds must be positive and fail_first not negative")
