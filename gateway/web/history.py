"""Recent sensor history for the status page's plots: bounded rings in RAM, never written to disk.

How this works: every numeric quantity of every sensor has one `Series`, a ring of `points` slots
(two `array`s: float32 values and uint32 seconds since the ring was made). A reading lands in the
slot of its time step: a second reading in the same step replaces the first. The step starts at
the sensor's read interval, so a fresh gateway plots every reading; when the ring is full and covers
less than `span`, every other point is dropped and the step doubles (the ring now covers twice the
time at half the resolution), until step x points >= span (24 h at 720 points: a 2-minute step).
From then on a full ring overwrites its oldest point (overflow policy: oldest first, counted in
`overwritten`). The cost is fixed when the ring is made: 8 bytes a point, so 720 points are 5.6 KiB
a quantity (30 quantities: 170 KiB), whatever the read interval.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

from drivers.base import Reading

POINT_BYTES = 8  # float32 value + uint32 time


class Series:
    __slots__ = ("count", "origin", "overwritten", "span", "start", "step", "times", "values")

    def __init__(self, points: int, step: float, origin: float, span: float = 0.0) -> None:
        self.step = max(1.0, step)
        self.span = span
        self.origin = origin
        self.times = array("I", bytes(4 * points))
        self.values = array("f", bytes(4 * points))
        self.start = 0  # index of the oldest point
        self.count = 0
        self.overwritten = 0

    def add(self, value: float, now: float) -> None:
        capacity = len(self.values)
        if not capacity:
            return
        offset = max(0, int(now - self.origin))
        if self.count:
            last = (self.start + self.count - 1) % capacity
            if offset // self.step == self.times[last] // self.step:  # same step: newest wins
                self.times[last], self.values[last] = offset, value
                return
        if self.count == capacity and self.step * capacity < self.span and capacity > 1:
            self._halve()
        if self.count == capacity:
            self.start = (self.start + 1) % capacity
            self.count -= 1
            self.overwritten += 1
        index = (self.start + self.count) % capacity
        self.times[index], self.values[index] = offset, value
        self.count += 1

    def _halve(self) -> None:
        """Keep the newer point of each pair, oldest first; the step doubles."""
        capacity = len(self.values)
        order = [(self.start + i) % capacity for i in range(self.count)]
        kept = order[1::2] if self.count % 2 == 0 else order[0::2]  # the newest always stays
        times = [self.times[i] for i in kept]
        values = [self.values[i] for i in kept]
        for i, (t, v) in enumerate(zip(times, values, strict=True)):
            self.times[i], self.values[i] = t, v
        self.start, self.count = 0, len(kept)
        self.step *= 2

    def points(self, now: float, span: float) -> list[tuple[float, float]]:
        """(age in seconds, value) of the points within `span`, oldest first."""
        capacity = len(self.values)
        out = []
        for i in range(self.count):
            index = (self.start + i) % capacity
            age = now - (self.origin + self.times[index])
            if age <= span:
                out.append((round(age, 1), round(float(self.values[index]), 4)))
        return out


class History:
    """One `Series` per (sensor, quantity) with a numeric value; bools count as 0/1."""

    def __init__(self, span: float, points: int, origin: float) -> None:
        self.span = span
        self.points = points
        self.origin = origin
        self.series: dict[tuple[str, str], Series] = {}
        self.intervals: dict[str, float] = {}

    def record(self, sensor: str, readings: Iterable[Reading], now: float) -> None:
        if not self.points or not self.span:
            return
        for reading in readings:
            value = reading.value
            if isinstance(value, str):
                continue
            key = (sensor, reading.quantity)
            series = self.series.get(key)
            if series is None:
                step = min(self.span / self.points, self.intervals.get(sensor, 1.0))
                series = self.series[key] = Series(self.points, step, self.origin, self.span)
            series.add(float(value), now)

    def of(self, sensor: str, now: float) -> dict[str, list[tuple[float, float]]]:
        return {
            quantity: series.points(now, self.span)
            for (name, quantity), series in self.series.items()
            if name == sensor
        }

    @property
    def bytes(self) -> int:
        return len(self.series) * self.points * POINT_BYTES
