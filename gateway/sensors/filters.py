"""Per-quantity filter chains: calibration, unit conversion, smoothing, delta/throttle and a
plausibility window, applied to each reading between the driver and the payload.

How it works. `filters = { temperature = [ {offset = -0.4}, {unit = "°F"}, {median = 5} ] }` in a
sensor's config becomes one `Chain` per quantity, built when the sensor is built (a unit the
driver's unit cannot be converted to, or a filter on a quantity the driver does not report, is a
start-up error naming the sensor). Each step takes a value and returns the value to pass on,
`DROP` (delta and throttle: this value is not published; the quantity is left out of that
reading), or raises `InvalidReading` (plausible: the read counts as failed, as the drivers' own
range checks do; nothing is ever clamped). Steps keep their own state (the last N values, the
last value passed); the functions that compute are pure and tested against a reference.

Unit conversion is affine within a dimension: each unit is `a·v + b` of its dimension's base
unit (°C, Pa, m, g, m/s, L), so any two units of one dimension convert through the base.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drivers.base import InvalidReading, Reading

DROP = object()  # a step's answer: this value is not passed on

#: unit -> (dimension, a, b): base value = a × value + b
UNITS: dict[str, tuple[str, float, float]] = {
    "°C": ("temperature", 1.0, 0.0),
    "K": ("temperature", 1.0, -273.15),
    "°F": ("temperature", 5 / 9, -160 / 9),
    "Pa": ("pressure", 1.0, 0.0),
    "hPa": ("pressure", 100.0, 0.0),
    "mbar": ("pressure", 100.0, 0.0),
    "kPa": ("pressure", 1000.0, 0.0),
    "bar": ("pressure", 100_000.0, 0.0),
    "inHg": ("pressure", 3386.389, 0.0),
    "mmHg": ("pressure", 133.322387415, 0.0),
    "psi": ("pressure", 6894.757293168, 0.0),
    "m": ("length", 1.0, 0.0),
    "cm": ("length", 0.01, 0.0),
    "mm": ("length", 0.001, 0.0),
    "km": ("length", 1000.0, 0.0),
    "in": ("length", 0.0254, 0.0),
    "ft": ("length", 0.3048, 0.0),
    "g": ("mass", 1.0, 0.0),
    "kg": ("mass", 1000.0, 0.0),
    "mg": ("mass", 0.001, 0.0),
    "lb": ("mass", 453.59237, 0.0),
    "oz": ("mass", 28.349523125, 0.0),
    "m/s": ("speed", 1.0, 0.0),
    "km/h": ("speed", 1 / 3.6, 0.0),
    "mph": ("speed", 0.44704, 0.0),
    "kn": ("speed", 1852 / 3600, 0.0),
    "L": ("volume", 1.0, 0.0),
    "mL": ("volume", 0.001, 0.0),
    "m³": ("volume", 1000.0, 0.0),
    "gal": ("volume", 3.785411784, 0.0),
    "V": ("voltage", 1.0, 0.0),
    "mV": ("voltage", 0.001, 0.0),
    "A": ("current", 1.0, 0.0),
    "mA": ("current", 0.001, 0.0),
    "W": ("power", 1.0, 0.0),
    "kW": ("power", 1000.0, 0.0),
}
KINDS = (
    "offset",
    "multiply",
    "calibrate",
    "lookup",
    "unit",
    "average",
    "median",
    "exponential",
    "delta",
    "throttle",
    "plausible",
)
MAX_WINDOW = 1000


class FilterError(ValueError):
    """A filter that cannot be built (the message says which and why)."""


# --- pure functions ---------------------------------------------------------------------------------


def convert(value: float, from_unit: str, to_unit: str) -> float:
    if from_unit == to_unit:
        return value
    dim_from, a1, b1 = UNITS[from_unit]
    dim_to, a2, b2 = UNITS[to_unit]
    if dim_from != dim_to:
        raise FilterError(f"cannot convert {from_unit} ({dim_from}) to {to_unit} ({dim_to})")
    return ((a1 * value + b1) - b2) / a2


def interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise-linear through `points` (x strictly increasing); beyond the ends the end
    segments are extended (a lookup table never clamps)."""
    i = 1
    while i < len(points) - 1 and x > points[i][0]:
        i += 1
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    # The fraction first: (y1 - y0) * (x - x0) can round badly when the points are a subnormal
    # apart, and then the line misses its own end point (0.0 -> 1.5, 5e-324 -> 0.0 gave -0.5).
    return y0 + (y1 - y0) * ((x - x0) / (x1 - x0))


def exponential(previous: float | None, value: float, alpha: float) -> float:
    return value if previous is None else alpha * value + (1 - alpha) * previous


# --- steps ------------------------------------------------------------------------------------------

Step = Callable[[float, float], Any]  # (value, now) -> value | DROP, or raises InvalidReading


def _window(size: int, reduce: Callable[[Sequence[float]], float]) -> Step:
    values: deque[float] = deque(maxlen=size)

    def step(value: float, now: float) -> float:
        values.append(value)
        return reduce(values)

    return step


def _delta(threshold: float) -> Step:
    last: list[float] = []

    def step(value: float, now: float) -> Any:
        if last and abs(value - last[0]) < threshold:
            return DROP
        last[:] = [value]
        return value

    return step


def _throttle(seconds: float) -> Step:
    last: list[float] = []

    def step(value: float, now: float) -> Any:
        if last and now - last[0] < seconds:
            return DROP
        last[:] = [now]
        return value

    return step


def _exponential(alpha: float) -> Step:
    state: list[float] = []

    def step(value: float, now: float) -> float:
        state[:] = [exponential(state[0] if state else None, value, alpha)]
        return state[0]

    return step


def _plausible(low: float, high: float, quantity: str, unit: str) -> Step:
    def step(value: float, now: float) -> float:
        if not low <= value <= high:
            raise InvalidReading(
                f"{quantity} {value:g} {unit} is outside the plausible {low:g}..{high:g}".rstrip()
            )
        return value

    return step


def _points(raw: Any, kind: str, minimum: int) -> list[tuple[float, float]]:
    try:
        points = [(float(x), float(y)) for x, y in raw]
    except (TypeError, ValueError):
        raise FilterError(f"{kind} takes a list of [x, y] pairs, not {raw!r}") from None
    if len(points) < minimum:
        raise FilterError(f"{kind} needs at least {minimum} points")
    if any(b[0] <= a[0] for a, b in itertools.pairwise(points)):
        raise FilterError(f"{kind}: the measured values must be strictly increasing")
    return points


def _number(
    raw: Any, kind: str, low: float = -math.inf, high: float = math.inf, *, open_low: bool = False
) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise FilterError(f"{kind} takes a number, not {raw!r}")
    if raw < low or raw > high or (open_low and raw == low):
        raise FilterError(
            f"{kind} must be {'above' if open_low else 'at least'} {low:g}"
            + (f" and at most {high:g}" if high != math.inf else "")
            + f", not {raw!r}"
        )
    return float(raw)


def _size(raw: Any, kind: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_WINDOW:
        raise FilterError(f"{kind} takes a window of 1..{MAX_WINDOW} readings, not {raw!r}")
    return raw


def parse(spec: Mapping[str, Any]) -> tuple[str, Any]:
    """One filter table, `{kind = argument}`, checked for its shape (no unit check here)."""
    if len(spec) != 1:
        raise FilterError(
            f"a filter is one of {', '.join(KINDS)} with its argument, e.g. "
            f"{{offset = -0.5}}, not {dict(spec)!r}"
        )
    ((kind, arg),) = spec.items()
    if kind not in KINDS:
        raise FilterError(f"unknown filter {kind!r}; known: {', '.join(KINDS)}")
    if kind in ("offset", "multiply"):
        return kind, _number(arg, kind)
    if kind == "calibrate":
        points = _points(arg, kind, 2)
        if len(points) != 2:
            raise FilterError("calibrate takes two [measured, true] points (use lookup for more)")
        return kind, points
    if kind == "lookup":
        return kind, _points(arg, kind, 2)
    if kind == "unit":
        if arg not in UNITS:
            raise FilterError(
                f"unit {arg!r} is not one the gateway converts; known: {', '.join(UNITS)}"
            )
        return kind, arg
    if kind in ("average", "median"):
        return kind, _size(arg, kind)
    if kind == "exponential":
        return kind, _number(arg, kind, 0.0, 1.0, open_low=True)
    if kind in ("delta", "throttle"):
        return kind, _number(arg, kind, 0.0, open_low=True)
    try:
        low, high = (float(v) for v in arg)
    except (TypeError, ValueError):
        raise FilterError(f"plausible takes [min, max], not {arg!r}") from None
    if not low < high:
        raise FilterError(f"plausible takes [min, max] with min < max, not {arg!r}")
    return kind, (low, high)


@dataclass
class Chain:
    """The steps of one quantity, in order; `unit` is the unit after the chain."""

    quantity: str
    unit: str
    steps: list[Step]

    def apply(self, value: float, now: float) -> Any:
        for step in self.steps:
            value = step(value, now)
            if value is DROP:
                return DROP
        return value


def build_chain(quantity: str, unit: str, specs: Iterable[Mapping[str, Any]]) -> Chain:
    """Steps for one quantity whose driver reports `unit`; a unit filter changes the unit of the
    steps after it (a plausible window after {unit = "°F"} is in °F)."""
    steps: list[Step] = []
    for spec in specs:
        kind, arg = parse(spec)
        if kind == "offset":
            steps.append(_offset(arg))
        elif kind == "multiply":
            steps.append(_multiply(arg))
        elif kind in ("calibrate", "lookup"):
            steps.append(_lookup(arg))
        elif kind == "unit":
            if unit not in UNITS:
                raise FilterError(f"{quantity}: its unit {unit!r} is not one the gateway converts")
            convert(0.0, unit, arg)  # raises for another dimension
            steps.append(_convert(unit, arg))
            unit = arg
        elif kind in ("average", "median"):
            # imported here: statistics loads fractions, decimal and random (0.7 MB of RSS)
            import statistics

            steps.append(_window(arg, statistics.fmean if kind == "average" else statistics.median))
        elif kind == "exponential":
            steps.append(_exponential(arg))
        elif kind == "delta":
            steps.append(_delta(arg))
        elif kind == "throttle":
            steps.append(_throttle(arg))
        else:
            low, high = arg
            steps.append(_plausible(low, high, quantity, unit))
    return Chain(quantity, unit, steps)


def _offset(delta: float) -> Step:
    return lambda value, now: value + delta


def _multiply(factor: float) -> Step:
    return lambda value, now: value * factor


def _lookup(points: list[tuple[float, float]]) -> Step:
    return lambda value, now: interpolate(points, value)


def _convert(unit: str, to: str) -> Step:
    return lambda value, now: convert(value, unit, to)


class SensorFilters:
    """The chains of one sensor, by quantity; quantities without filters pass unchanged."""

    def __init__(
        self,
        config: Mapping[str, Sequence[Mapping[str, Any]]],
        quantities: Sequence[tuple[str, str]],
    ) -> None:
        units = dict(quantities)
        unknown = sorted(set(config) - set(units))
        if unknown:
            raise FilterError(
                f"filters name {unknown}, but the sensor reports only {sorted(units)}"
            )
        self.chains = {q: build_chain(q, units[q], specs) for q, specs in config.items()}

    def output_quantities(
        self, quantities: Sequence[tuple[str, str]]
    ) -> tuple[tuple[str, str], ...]:
        return tuple((q, self.chains[q].unit if q in self.chains else u) for q, u in quantities)

    def apply(self, readings: Sequence[Reading], now: float) -> list[Reading]:
        out = []
        for r in readings:
            chain = self.chains.get(r.quantity)
            if chain is None or isinstance(r.value, (bool, str)):
                out.append(r)
                continue
            value = chain.apply(float(r.value), now)
            if value is not DROP:
                out.append(Reading(r.quantity, value, chain.unit))
        return out
