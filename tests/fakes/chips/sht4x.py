"""A fake SHT4x (datasheet SHT4x): one-byte commands, NAK while measuring, CRC per word (§4.4)."""

from __future__ import annotations

from tests.fakes.chips.sht3x import with_crc
from tests.fakes.i2c import FakeClock, nak

TYPICAL_S = {0xFD: 0.0069, 0xF6: 0.0037, 0xE0: 0.0013}  # §3.1 table 4, typical


class FakeSHT4x:
    def __init__(self, clock: FakeClock, address: int = 0x44, serial: int = 0x0F3B_2C91) -> None:
        self.clock, self.address, self.serial = clock, address, serial
        self.temperature, self.humidity = 22.0, 50.0
        self.raw: tuple[int, int] | None = None
        self.corrupt_crc = False
        self._ready_at: float | None = None
        self._out = b""

    def _raw(self) -> tuple[int, int]:
        if self.raw is not None:
            return self.raw
        return (
            round((self.temperature + 45) / 175 * 65535),
            round((self.humidity + 6) / 125 * 65535),
        )

    def write(self, data: bytes) -> None:
        if len(data) != 1:
            raise nak(self.address)
        cmd = data[0]
        if cmd in TYPICAL_S:
            self._ready_at = self.clock.now + TYPICAL_S[cmd]
            self._out = with_crc(*self._raw(), corrupt=self.corrupt_crc)
        elif cmd == 0x89:
            self._ready_at = self.clock.now + 0.0002
            self._out = with_crc(self.serial >> 16, self.serial & 0xFFFF)
        elif cmd == 0x94:
            self._ready_at, self._out = None, b""
        else:
            raise nak(self.address)

    def read(self, length: int) -> bytes:
        if self._ready_at is None or self.clock.now < self._ready_at:
            raise nak(self.address)
        out, self._out, self._ready_at = self._out, b"", None
        return (out + b"\xff" * length)[:length]
