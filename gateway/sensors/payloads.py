"""The sensor payload, one JSON object per read (the documented shape):

    {"temperature": {"value": 21.4, "unit": "°C"},
     "humidity": {"value": 45.2, "unit": "%"},
     "ts": "2024-06-01T12:00:00.123Z"}

* one key per quantity, in the driver's order, each {"value": <number|bool|string>, "unit": <str>};
  "unit" is always present ("" for states and dimensionless values);
* floats are rounded to the sensor's `decimals` for that quantity, or else to 6 significant digits;
* "ts" is the time of the read, ISO-8601 UTC with milliseconds and a "Z"; while the wall clock is
  not known to be right (gateway.timesync: a Pi without an RTC before NTP) "ts" is left out and
  `"clock": "unsynced"` says why: a consumer then uses its own time of arrival, never a 1970 or
  last-shutdown time;
* UTF-8, compact separators, no NaN or Infinity (a driver value that is not finite is an error).

A plain-value topic carries the bare JSON value of one quantity: `21.4`, `true`, `"3D fix"`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from drivers.base import Reading

TS_KEY = "ts"
CLOCK_KEY = "clock"


class PayloadError(ValueError):
    """A reading cannot be encoded (a non-finite number, a reserved or repeated quantity name)."""


def iso_utc(wall_time: float) -> str:
    moment = datetime.fromtimestamp(wall_time, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def stamp(wall_time: float, synced: bool = True) -> dict[str, str]:
    """{"ts": ...} for a payload, or {"clock": "unsynced"} while the wall clock is not known to
    be right (gateway.timesync)."""
    return {TS_KEY: iso_utc(wall_time)} if synced else {CLOCK_KEY: "unsynced"}


def format_value(
    value: float | int | bool | str, decimals: int | None = None
) -> float | int | bool | str:
    if isinstance(value, (bool, int, str)):
        return value
    if not math.isfinite(value):
        raise PayloadError(f"value {value!r} is not a finite number")
    if decimals is not None:
        return round(value, decimals)
    return float(f"{value:.6g}")


def state_payload(
    readings: Sequence[Reading],
    wall_time: float,
    decimals: Mapping[str, int] | None = None,
    synced: bool = True,
) -> bytes:
    decimals = decimals or {}
    body: dict[str, object] = {}
    for reading in readings:
        if reading.quantity in (TS_KEY, CLOCK_KEY) or reading.quantity in body:
            raise PayloadError(f"quantity name {reading.quantity!r} is reserved or repeated")
        body[reading.quantity] = {
            "value": format_value(reading.value, decimals.get(reading.quantity)),
            "unit": reading.unit,
        }
    body.update(stamp(wall_time, synced))
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def plain_payload(reading: Reading, decimals: Mapping[str, int] | None = None) -> bytes:
    value = format_value(reading.value, (decimals or {}).get(reading.quantity))
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
