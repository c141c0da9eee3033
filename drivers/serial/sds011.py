"""Nova Fitness SDS011 laser PM2.5/PM10 sensor (Laser Dust Sensor Control Protocol v1.3).

9600 baud 8N1. Data frames are 10 bytes: 0xAA 0xC0, PM2.5 low, high, PM10 low, high (tenths of
µg/m³), device id (2 bytes), checksum = sum of bytes 2..7 (low 8 bits), 0xAB. Commands are 19
bytes: 0xAA 0xB4, command, 12 data bytes, device id 0xFF 0xFF (all sensors), checksum = sum of
bytes 2..16, 0xAB; replies are 10 bytes starting 0xAA 0xC5. Used here: 2 = data reporting mode
(data 1 = set, data 2 = 0 active / 1 query), 4 = query data (answered with a data frame), 6 =
sleep and work (data 1 = set, data 2 = 0 sleep / 1 work). The protocol's example data frame
AA C0 D4 04 3A 0A A1 60 1D AB is PM2.5 123.6, PM10 261.8 µg/m³.

In query mode the driver asks for each reading. With `sleep_between_reads` it wakes the sensor,
waits `warmup` seconds for the fan to settle (the manual advises 30 s), queries, and sends it back
to sleep: the laser's rated life (about 8,000 hours) then lasts years at one read a few minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import ChecksumError, Driver, DriverError, InvalidReading, Reading
from drivers.serial.stream import SerialPort, collect, record

UNIT = "µg/m³"
CMD_MODE, CMD_QUERY, CMD_SLEEP = 2, 4, 6
DATA, REPLY = 0xC0, 0xC5
PM_MAX = 999.9  # measuring range 0.0-999.9 µg/m³ (specification)


def command(cmd: int, data: bytes = b"") -> bytes:
    body = bytes([0xAA, 0xB4, cmd]) + data.ljust(12, b"\x00") + b"\xff\xff"
    return body + bytes([sum(body[2:17]) & 0xFF, 0xAB])


class Sds011Decoder:
    """10-byte frames (data 0xC0 or reply 0xC5); resyncs by one byte after a bad frame."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.errors: list[DriverError] = []

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            start = self._buf.find(b"\xaa")
            if start < 0:
                self._buf.clear()
                return out
            del self._buf[:start]
            if len(self._buf) < 10:
                return out
            frame = bytes(self._buf[:10])
            if frame[1] not in (DATA, REPLY) or frame[9] != 0xAB:
                del self._buf[:1]
                continue
            if sum(frame[2:8]) & 0xFF != frame[8]:
                record(self.errors, ChecksumError(f"SDS011: checksum error in {frame.hex()}"))
                del self._buf[:1]
                continue
            del self._buf[:10]
            out.append(frame)


def parse(frame: bytes) -> tuple[float, float]:
    pm25 = int.from_bytes(frame[2:4], "little") / 10
    pm10 = int.from_bytes(frame[4:6], "little") / 10
    if pm25 > PM_MAX or pm10 > PM_MAX:
        raise InvalidReading(f"SDS011: PM2.5 {pm25} / PM10 {pm10} beyond its 999.9 µg/m³ range")
    return pm25, pm10


class Sds011(Driver):
    quantities = (("pm2_5", UNIT), ("pm10", UNIT))

    def __init__(
        self,
        port: SerialPort,
        *,
        sleep_between_reads: bool = False,
        warmup: float = 30.0,
        timeout: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port, self.timeout, self.sleep, self.monotonic = port, timeout, sleep, monotonic
        self.sleep_between_reads, self.warmup = sleep_between_reads, warmup

    def _exchange(self, frame: bytes, want: Callable[[bytes], bool]) -> bytes:
        self.port.reset_input_buffer()
        self.port.write(frame)
        decoder = Sds011Decoder()
        frames = collect(
            self.port,
            decoder,
            lambda f: any(want(x) for x in f),
            timeout=self.timeout,
            what="SDS011",
            monotonic=self.monotonic,
        )
        return next(x for x in frames if want(x))

    def _set(self, cmd: int, value: int) -> None:
        self._exchange(command(cmd, bytes([1, value])), lambda f: f[1] == REPLY and f[2] == cmd)

    def open(self) -> None:
        self._set(CMD_SLEEP, 1)  # awake, whatever it was left in
        self._set(CMD_MODE, 1)  # query mode: it speaks when asked
        if self.sleep_between_reads:
            self._set(CMD_SLEEP, 0)

    def read(self) -> list[Reading]:
        if self.sleep_between_reads:
            self._set(CMD_SLEEP, 1)
            self.sleep(self.warmup)
        try:
            frame = self._exchange(command(CMD_QUERY), lambda f: f[1] == DATA)
        finally:
            if self.sleep_between_reads:
                self._set(CMD_SLEEP, 0)
        pm25, pm10 = parse(frame)
        return [Reading("pm2_5", pm25, UNIT), Reading("pm10", pm10, UNIT)]
