"""A fake VEML7700: SMBus words LSB first, the ID register, and an ALS count that the chip
integrates from `lux` over its integration time at its gain (the app note's resolution), with the
low gains' non-linearity (the inverse of the app note's correction), saturating at 65535. A new
configuration takes effect for the integration that starts after it; until that one ends the
count register keeps the old value."""

from __future__ import annotations

from drivers.i2c.veml7700 import GAIN_BITS, IT_BITS, correct, lux_per_count
from tests.fakes.i2c import FakeClock

GAINS = {v: k for k, v in GAIN_BITS.items()}
ITS = {v: k for k, v in IT_BITS.items()}


def uncorrect(true_lux: float) -> float:
    """What the sensor's non-linear response reports for `true_lux` at gains 1/8 and 1/4."""
    low, high = 0.0, true_lux * 2 + 1
    for _ in range(80):
        mid = (low + high) / 2
        low, high = (mid, high) if correct(mid) < true_lux else (low, mid)
    return low


class FakeVEML7700:
    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.address = clock, 0x10
        self.lux = 250.0
        self.conf = 0x0001  # shut down at power-up
        self.count = 0
        self._valid_from: float | None = None
        self.writes = 0
        self.pointer = 0

    def setting(self) -> tuple[float, float]:
        return GAINS[self.conf >> 11 & 0b11], ITS[self.conf >> 6 & 0b1111]

    def _settle(self) -> None:
        gain, it = self.setting()
        if self._valid_from is not None and self.clock.now >= self._valid_from + it:
            seen = uncorrect(self.lux) if gain in (0.125, 0.25) else self.lux
            self.count = min(0xFFFF, int(seen / lux_per_count(gain, it)))

    def write(self, data: bytes) -> None:
        self.pointer = data[0]
        if len(data) == 3 and self.pointer == 0x00:
            self.conf = data[1] | data[2] << 8
            self.writes += 1
            # the running integration ends first (at most one old integration time)
            self._valid_from = self.clock.now + (self.setting()[1] if self._valid_from else 0)

    def read(self, length: int) -> bytes:
        self._settle()
        word = {0x00: self.conf, 0x04: self.count, 0x07: 0xC481}.get(self.pointer, 0)
        return word.to_bytes(2, "little")[:length]
