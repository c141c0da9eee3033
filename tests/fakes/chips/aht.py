"""A fake AHT10/AHT20: status byte with busy and calibration bits, the init and trigger commands,
an 80 ms measurement (typical 75 ms here) on the fake clock, 20-bit values and the AHT20's CRC."""

from __future__ import annotations

from drivers.i2c.sensirion import crc8
from tests.fakes.i2c import FakeClock, nak

INIT = {"aht10": 0xE1, "aht20": 0xBE}


class FakeAHT:
    def __init__(self, clock: FakeClock, chip: str = "aht20", calibrated: bool = False) -> None:
        self.clock, self.chip, self.address = clock, chip, 0x38
        self.calibrated = calibrated
        self.temperature, self.humidity = 23.0, 40.0
        self.raw: tuple[int, int] | None = None  # (S_RH, S_T) to force a value
        self.corrupt_crc = False
        self.measure_s = 0.075
        self.inits = 0
        self._busy_until: float | None = None
        self._next = b""

    def _status(self) -> int:
        busy = self._busy_until is not None and self.clock.now < self._busy_until
        return (0x80 if busy else 0) | (0x08 if self.calibrated else 0) | 0x10

    def write(self, data: bytes) -> None:
        if data == b"\x71":
            self._next = b"status"
        elif data == bytes([INIT[self.chip], 0x08, 0x00]):
            self.inits += 1
            self.calibrated = True
        elif data == b"\xac\x33\x00":
            self._busy_until = self.clock.now + self.measure_s
            self._next = b"data"
        elif data == b"\xba":
            self.calibrated = False
        else:
            raise nak(self.address)

    def _data(self) -> bytes:
        rh, t = self.raw or (
            round(self.humidity / 100 * 2**20),
            round((self.temperature + 50) / 200 * 2**20),
        )
        body = bytes(
            [
                self._status(),
                rh >> 12 & 0xFF,
                rh >> 4 & 0xFF,
                (rh & 0x0F) << 4 | t >> 16 & 0x0F,
                t >> 8 & 0xFF,
                t & 0xFF,
            ]
        )
        if self.chip == "aht10":
            return body
        crc = crc8(body) ^ (0xFF if self.corrupt_crc else 0)
        return body + bytes([crc])

    def read(self, length: int) -> bytes:
        out = bytes([self._status()]) if self._next == b"status" else self._data()
        return (out + b"\xff" * length)[:length]
