"""A generic line-oriented serial device: a regex with named groups -> Readings.

Config declares `pattern` (Python regex; each named group is one quantity) and `units`
(group name -> unit). Every named group needs a unit and every unit a group, so a typo is a
ConfigError-style ValueError at start-up, not a silent missing value. Group text is parsed as a
number (int when it looks like one, else float); a group that did not take part in the match is
left out. `LineDecoder` (sans-IO) splits on LF, strips CR, drops lines over `max_line` bytes and
records non-matching lines as InvalidReading. With `command` set the driver sends it and reads
the answer (polled devices); without, it reads the stream and keeps the newest matching line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping

from drivers.base import Driver, DriverError, InvalidReading, Reading
from drivers.serial.stream import SerialPort, collect, latest, record

NUMBER = re.compile(r"^[+-]?\d+$")


def parse_number(name: str, text: str) -> int | float:
    try:
        return int(text) if NUMBER.match(text) else float(text)
    except ValueError:
        raise InvalidReading(f"line: group {name!r} = {text!r} is not a number") from None


class LineDecoder:
    def __init__(
        self,
        pattern: str,
        units: Mapping[str, str],
        *,
        encoding: str = "ascii",
        max_line: int = 256,
    ) -> None:
        try:
            self.regex = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"line: bad pattern {pattern!r}: {exc}") from None
        groups, declared = set(self.regex.groupindex), set(units)
        if not groups:
            raise ValueError("line: the pattern needs at least one named group (?P<name>...)")
        if groups != declared:
            raise ValueError(f"line: groups {sorted(groups)} and units {sorted(declared)} differ")
        "".encode(encoding)  # LookupError for a bad encoding
        self.units, self.encoding, self.max_line = dict(units), encoding, max_line
        self._buf = bytearray()
        self.errors: list[DriverError] = []

    def feed(self, data: bytes) -> list[list[Reading]]:
        self._buf += data
        out: list[list[Reading]] = []
        while (end := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:end]).rstrip(b"\r")
            del self._buf[: end + 1]
            self._take(line, out)
        if len(self._buf) > self.max_line:
            record(self.errors, InvalidReading(f"line: over {self.max_line} bytes, dropped"))
            self._buf.clear()
        return out

    def _take(self, line: bytes, out: list[list[Reading]]) -> None:
        if not line.strip():
            return
        try:
            out.append(self.parse(line))
        except DriverError as exc:
            record(self.errors, exc)

    def parse(self, line: bytes) -> list[Reading]:
        if len(line) > self.max_line:
            raise InvalidReading(f"line: over {self.max_line} bytes")
        text = line.decode(self.encoding, errors="replace")
        match = self.regex.search(text)
        if match is None:
            raise InvalidReading(f"line: {text[:60]!r} does not match the pattern")
        return [
            Reading(name, parse_number(name, value), self.units[name])
            for name, value in match.groupdict().items()
            if value is not None
        ]


class LineDevice(Driver):
    def __init__(
        self,
        port: SerialPort,
        *,
        pattern: str,
        units: Mapping[str, str],
        command: str | None = None,
        encoding: str = "ascii",
        timeout: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError("line: timeout must be positive")
        self.decoder = LineDecoder(pattern, units, encoding=encoding)
        self.port, self.timeout, self.monotonic = port, timeout, monotonic
        self.command = None if command is None else command.encode(encoding)
        self.quantities = tuple(units.items())

    def read(self) -> list[Reading]:
        if self.command is not None:
            self.port.reset_input_buffer()
            self.port.write(self.command)
        lines = collect(
            self.port,
            self.decoder,
            lambda f: latest(f, self.port),
            timeout=self.timeout,
            what="line device",
            monotonic=self.monotonic,
        )
        return lines[-1]


#: the name the sensor registry's `serial_line` type refers to
SerialLine = LineDevice
