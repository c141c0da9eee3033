"""A fake SCD30: CRC-checked commands, a measurement every `interval` s of the fake clock once
started, the data-ready word, floats split into CRC'd words, firmware version, ASC/FRC/altitude."""

from __future__ import annotations

import struct

from drivers.i2c.sensirion import crc8
from tests.fakes.chips.sht3x import with_crc
from tests.fakes.i2c import FakeClock, nak

COMMANDS = {0x0010, 0x0104, 0x4600, 0x0202, 0x0300, 0x5306, 0x5204, 0x5102, 0xD100, 0xD304}


class FakeSCD30:
    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.address = clock, 0x61
        self.co2, self.temperature, self.humidity = 439.09515, 27.238279, 48.806744
        self.words: list[int] | None = None  # to answer exact words
        self.interval = 2
        self.asc = True
        self.altitude: int | None = 0
        self.pressure: int | None = None
        self.frc: int | None = None
        self.started_at: float | None = None
        self.read_count = 0
        self.corrupt_crc = False
        self._out = b""

    def _made(self) -> int:
        if self.started_at is None:
            return 0
        return int((self.clock.now - self.started_at) // self.interval)

    def _measurement(self) -> bytes:
        if self.words is None:
            raw = b"".join(
                struct.pack(">f", v) for v in (self.co2, self.temperature, self.humidity)
            )
            words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, 12, 2)]
        else:
            words = self.words
        return with_crc(*words, corrupt=self.corrupt_crc)

    def write(self, data: bytes) -> None:
        cmd, args = data[0] << 8 | data[1], data[2:]
        if cmd not in COMMANDS or len(args) % 3:
            raise nak(self.address)
        for i in range(0, len(args), 3):
            if crc8(args[i : i + 2]) != args[i + 2]:
                raise nak(self.address)
        arg = int.from_bytes(args[:2], "big") if args else None
        self._out = b""
        if cmd == 0x0010:
            self.started_at, self.pressure, self.read_count = self.clock.now, arg, 0
        elif cmd == 0x0104:
            self.started_at = None
        elif cmd == 0x4600:
            assert arg is not None, "set measurement interval without its argument"
            self.interval = arg
        elif cmd == 0x5306:
            self.asc = bool(arg)
        elif cmd == 0x5102:
            self.altitude = arg
        elif cmd == 0x5204:
            self.frc = arg
        elif cmd == 0xD100:
            self._out = with_crc(0x0342)
        elif cmd == 0x0202:
            self._out = with_crc(1 if self._made() > self.read_count else 0)
        elif cmd == 0x0300:
            self._out = self._measurement()
            self.read_count = self._made()

    def read(self, length: int) -> bytes:
        out, self._out = self._out, b""
        return (out + b"\xff" * length)[:length]
