"""A fake SHT3x (datasheet SHT3x-DIS): 16-bit commands, single shot without clock stretching.

A measurement takes the datasheet's *typical* duration (§2.2 table 4) of the fake clock; reading
before that, or with no measurement pending, is NAKed (§4.3). Every word is sent with a CRC-8
computed here independently of the driver (polynomial long division, §4.12). Set `temperature`
and `humidity` (physical values) or `raw` (two words) and `corrupt_crc` to test errors.
"""

from __future__ import annotations

from tests.fakes.i2c import FakeClock, nak

TYPICAL_S = {0x2400: 0.0125, 0x240B: 0.0045, 0x2416: 0.0025}  # high / medium / low


def sensirion_crc(word: bytes) -> int:
    """CRC-8 x^8+x^5+x^4+1, init 0xFF, as the remainder of a polynomial division."""
    value = (int.from_bytes(word, "big") ^ (0xFF << 8 * (len(word) - 1))) << 8
    poly = 0x131
    for shift in range(8 * len(word) + 7, 7, -1):
        if value >> shift & 1:
            value ^= poly << (shift - 8)
    return value & 0xFF


def with_crc(*words: int, corrupt: bool = False) -> bytes:
    out = bytearray()
    for w in words:
        b = w.to_bytes(2, "big")
        out += b + bytes([sensirion_crc(b) ^ (0x01 if corrupt else 0)])
    return bytes(out)


class FakeSHT3x:
    def __init__(self, clock: FakeClock, address: int = 0x44) -> None:
        self.clock, self.address = clock, address
        self.temperature, self.humidity = 21.5, 45.0
        self.raw: tuple[int, int] | None = None
        self.corrupt_crc = False
        self.status = 0x8010  # alert pending + reset detected after power-up (§4.11)
        self._ready_at: float | None = None
        self._out = b""
        self.commands: list[int] = []

    def _raw(self) -> tuple[int, int]:
        if self.raw is not None:
            return self.raw
        return (round((self.temperature + 45) / 175 * 65535), round(self.humidity / 100 * 65535))

    def write(self, data: bytes) -> None:
        if len(data) != 2:
            raise nak(self.address)  # the SHT3x only accepts 16-bit commands
        cmd = int.from_bytes(data, "big")
        self.commands.append(cmd)
        if cmd in TYPICAL_S:
            self._ready_at = self.clock.now + TYPICAL_S[cmd]
            self._out = with_crc(*self._raw(), corrupt=self.corrupt_crc)
        elif cmd == 0xF32D:
            self._ready_at, self._out = self.clock.now, with_crc(self.status)
        elif cmd == 0x30A2:
            self._ready_at, self._out, self.status = None, b"", 0x0010
        else:
            raise nak(self.address)

    def read(self, length: int) -> bytes:
        if self._ready_at is None or self.clock.now < self._ready_at:
            raise nak(self.address)  # measuring or nothing to send (§4.3)
        out, self._out, self._ready_at = self._out, b"", None
        return (out + b"\xff" * length)[:length]
