"""NMEA 0183 GPS receivers: GGA (fix data) and RMC (recommended minimum) sentences.

`NmeaDecoder` (sans-IO) splits the byte stream into sentences `$<talker><type>,f1,...*hh\r\n`,
checks the XOR checksum of everything between `$` and `*` (NMEA 0183 §5.2.1), drops lines longer
than the standard's 82 characters (§5.3) and resynchronises on the next `$`. `parse_gga` /
`parse_rmc` turn fields into values: ddmm.mmmm / dddmm.mmmm -> decimal degrees (south and west
negative), fix quality, satellites in use, HDOP, altitude, speed (knots -> km/h) and course.
`NmeaGps` reads until it has one GGA and one RMC, keeping the latest of each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import ChecksumError, Driver, DriverError, InvalidReading, Reading
from drivers.serial.stream import SerialPort, collect, record

MAX_SENTENCE = 82  # including '$' and CR LF (§5.3)
KNOT_KMH = 1.852


@dataclass(frozen=True, slots=True)
class Sentence:
    talker: str  # "GP", "GN", "GL", ...
    kind: str  # "GGA", "RMC", ...
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Gga:
    fix_quality: int  # 0 invalid, 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, 6 estimated
    satellites: int
    latitude: float | None
    longitude: float | None
    hdop: float | None
    altitude: float | None  # metres above mean sea level


@dataclass(frozen=True, slots=True)
class Rmc:
    valid: bool  # status A = valid, V = warning
    latitude: float | None
    longitude: float | None
    speed_kmh: float | None
    course: float | None


def checksum(body: bytes) -> int:
    value = 0
    for byte in body:
        value ^= byte
    return value


def split_sentence(line: bytes) -> Sentence:
    """One line without CR LF -> Sentence, or ChecksumError / InvalidReading."""
    star = line.rfind(b"*")
    if not line.startswith(b"$") or star < 0 or len(line) - star != 3:
        raise InvalidReading(f"NMEA: not a checksummed sentence: {line[:40]!r}")
    body = line[1:star]
    try:
        given = int(line[star + 1 :], 16)
    except ValueError:
        raise InvalidReading(f"NMEA: bad checksum digits in {line[:40]!r}") from None
    if checksum(body) != given:
        raise ChecksumError(f"NMEA: checksum {given:02X} != {checksum(body):02X} in {line!r}")
    head, *fields = body.decode("ascii", errors="replace").split(",")
    if len(head) != 5:
        raise InvalidReading(f"NMEA: bad address field {head!r}")
    return Sentence(head[:2], head[2:], tuple(fields))


class NmeaDecoder:
    def __init__(self) -> None:
        self._buf = bytearray()
        self.errors: list[DriverError] = []

    def feed(self, data: bytes) -> list[Sentence]:
        self._buf += data
        out: list[Sentence] = []
        while (end := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:end]).rstrip(b"\r")
            del self._buf[: end + 1]
            start = line.rfind(b"$")  # resync: garbage before the last '$' is dropped
            if start < 0:
                continue
            self._take(line[start:], out)
        if len(self._buf) > MAX_SENTENCE:
            record(self.errors, InvalidReading("NMEA: line longer than 82 characters dropped"))
            start = self._buf.rfind(b"$", 1)
            del self._buf[: start if start > 0 else len(self._buf)]
        return out

    def _take(self, line: bytes, out: list[Sentence]) -> None:
        if len(line) + 2 > MAX_SENTENCE:
            record(self.errors, InvalidReading("NMEA: sentence longer than 82 characters"))
            return
        try:
            out.append(split_sentence(line))
        except DriverError as exc:
            record(self.errors, exc)


def coordinate(value: str, hemisphere: str, degree_digits: int) -> float | None:
    """ "4807.038","N" -> 48.1173; empty fields (no fix) -> None."""
    if not value and not hemisphere:
        return None
    limit = 90 if degree_digits == 2 else 180
    try:
        degrees, minutes = int(value[:degree_digits]), float(value[degree_digits:])
    except ValueError:
        raise InvalidReading(f"NMEA: bad coordinate {value!r}") from None
    result = degrees + minutes / 60
    if hemisphere not in ("NS" if degree_digits == 2 else "EW") or minutes >= 60 or result > limit:
        raise InvalidReading(f"NMEA: coordinate {value!r} {hemisphere!r} out of range")
    return -result if hemisphere in "SW" else result


def _number(value: str, cast: Callable[[str], float] = float) -> float | None:
    try:
        return cast(value) if value else None
    except ValueError:
        raise InvalidReading(f"NMEA: bad number {value!r}") from None


def parse_gga(f: tuple[str, ...]) -> Gga:
    """GGA: time, lat, N/S, lon, E/W, quality, satellites, HDOP, altitude, M, ..."""
    if len(f) < 14:
        raise InvalidReading(f"NMEA: GGA has {len(f)} fields, expected 14")
    quality = int(_number(f[5], int) or 0)
    return Gga(
        quality,
        int(_number(f[6], int) or 0),
        coordinate(f[1], f[2], 2),
        coordinate(f[3], f[4], 3),
        _number(f[7]),
        _number(f[8]),
    )


def parse_rmc(f: tuple[str, ...]) -> Rmc:
    """RMC: time, status, lat, N/S, lon, E/W, speed (knots), course, date, ..."""
    if len(f) < 11:
        raise InvalidReading(f"NMEA: RMC has {len(f)} fields, expected at least 11")
    knots = _number(f[6])
    return Rmc(
        f[1] == "A",
        coordinate(f[2], f[3], 2),
        coordinate(f[4], f[5], 3),
        None if knots is None else knots * KNOT_KMH,
        _number(f[7]),
    )


def to_readings(gga: Gga, rmc: Rmc | None) -> list[Reading]:
    out = [Reading("fix_quality", gga.fix_quality), Reading("satellites", gga.satellites)]
    if gga.fix_quality == 0 or gga.latitude is None or gga.longitude is None:
        return out  # no fix: no position (never a stale or made-up one)
    out += [Reading("latitude", gga.latitude, "°"), Reading("longitude", gga.longitude, "°")]
    out += [
        Reading(q, v, u)
        for q, v, u in (("altitude", gga.altitude, "m"), ("hdop", gga.hdop, ""))
        if v is not None
    ]
    if rmc is not None and rmc.valid:
        out += [
            Reading(q, v, u)
            for q, v, u in (("speed", rmc.speed_kmh, "km/h"), ("course", rmc.course, "°"))
            if v is not None
        ]
    return out


class NmeaGps(Driver):
    """Reads the latest GGA (and RMC, unless `require_rmc=False`) from a streaming receiver."""

    quantities = (
        ("fix_quality", ""),
        ("satellites", ""),
        ("latitude", "°"),
        ("longitude", "°"),
        ("altitude", "m"),
        ("hdop", ""),
        ("speed", "km/h"),
        ("course", "°"),
    )

    def __init__(
        self,
        port: SerialPort,
        *,
        timeout: float = 3.0,
        require_rmc: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError("NMEA: timeout must be positive")
        self.port, self.timeout, self.require_rmc = port, timeout, require_rmc
        self.monotonic = monotonic
        self.decoder = NmeaDecoder()

    def _done(self, sentences: list[Sentence]) -> bool:
        kinds = {s.kind for s in sentences}
        return (
            "GGA" in kinds
            and ("RMC" in kinds or not self.require_rmc)
            and self.port.in_waiting == 0
        )

    def read(self) -> list[Reading]:
        sentences = collect(
            self.port,
            self.decoder,
            self._done,
            timeout=self.timeout,
            what="NMEA",
            monotonic=self.monotonic,
        )
        gga = next(s for s in reversed(sentences) if s.kind == "GGA")
        rmc = next((s for s in reversed(sentences) if s.kind == "RMC"), None)
        return to_readings(parse_gga(gga.fields), parse_rmc(rmc.fields) if rmc else None)
