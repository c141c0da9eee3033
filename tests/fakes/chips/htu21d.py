"""A fake HTU21D / SHT21 / Si7021: no-hold measurements that NAK until done, status bits, CRC."""

from __future__ import annotations

from drivers.i2c.htu21d import crc8
from tests.fakes.i2c import FakeClock, nak

TYPICAL_S = {0xF3: 0.044, 0xF5: 0.014}  # HTU21D typical 14-bit T, 12-bit RH


class FakeHTU21D:
    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.address = clock, 0x40
        self.temperature, self.humidity = 21.0, 45.0
        self.raw: dict[int, int] = {}  # command -> raw word, to force a value
        self.corrupt_crc = False
        self.swap_status = False  # answer with the wrong status bit
        self.resets = 0
        self._ready_at: float | None = None
        self._out = b""

    def _word(self, command: int) -> int:
        if command in self.raw:
            return self.raw[command]
        if command == 0xF3:
            return round((self.temperature + 46.85) / 175.72 * 65536) & 0xFFFC
        return round((self.humidity + 6) / 125 * 65536) & 0xFFFC | 0x02

    def write(self, data: bytes) -> None:
        if len(data) != 1:
            raise nak(self.address)
        if data[0] == 0xFE:
            self.resets += 1
            self._ready_at, self._out = None, b""
        elif data[0] in TYPICAL_S:
            word = self._word(data[0]) ^ (0x02 if self.swap_status else 0)
            msb_lsb = word.to_bytes(2, "big")
            crc = crc8(msb_lsb) ^ (0xFF if self.corrupt_crc else 0)
            self._out = msb_lsb + bytes([crc])
            self._ready_at = self.clock.now + TYPICAL_S[data[0]]
        else:
            raise nak(self.address)

    def read(self, length: int) -> bytes:
        if self._ready_at is None or self.clock.now < self._ready_at:
            raise nak(self.address)  # still measuring (no hold master)
        out, self._out, self._ready_at = self._out, b"", None
        return (out + b"\xff" * length)[:length]
