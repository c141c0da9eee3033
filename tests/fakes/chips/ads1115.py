"""A fake ADS1115 (SBAS444D): pointer register, config reset 0x8583, single-shot timing.

Set `inputs` (volts on AIN0..AIN3). Writing the config with OS=1 in single-shot mode starts a
conversion of the selected MUX pair at the selected PGA; it completes after 1/DR seconds of the
fake clock times `clock_error` (the ±10 % oscillator), until then OS reads 0. The result saturates
at 0x7FFF / 0x8000 like the real converter.
"""

from __future__ import annotations

from tests.fakes.i2c import FakeClock, nak

PAIRS = [(0, 1), (0, 3), (1, 3), (2, 3), (0, None), (1, None), (2, None), (3, None)]
FSR = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256]
SPS = [8, 16, 32, 64, 128, 250, 475, 860]


class FakeADS1115:
    def __init__(self, clock: FakeClock, address: int = 0x48) -> None:
        self.clock, self.address = clock, address
        self.inputs = [0.0, 0.0, 0.0, 0.0]
        self.clock_error = 1.0
        self.config = 0x8583
        self.conversion = 0x0000
        self.pointer = 0
        self._done_at: float | None = None
        self._result = 0
        self.conversions = 0

    def write(self, data: bytes) -> None:
        if not data or data[0] > 3 or len(data) not in (1, 3):
            raise nak(self.address)
        self.pointer = data[0]
        if len(data) == 3 and self.pointer == 1:
            self._write_config(int.from_bytes(data[1:], "big"))

    def _write_config(self, value: int) -> None:
        self._settle()
        self.config = value & 0x7FFF | (self.config & 0x8000)
        if value & 0x8000 and value & 0x0100 and self._done_at is None:
            self.config &= 0x7FFF  # OS reads 0 while converting
            a, b = PAIRS[value >> 12 & 7]
            volts = self.inputs[a] - (self.inputs[b] if b is not None else 0.0)
            fsr = FSR[value >> 9 & 7]
            self._result = max(-0x8000, min(0x7FFF, round(volts / fsr * 32768)))
            self._done_at = self.clock.now + self.clock_error / SPS[value >> 5 & 7]

    def _settle(self) -> None:
        if self._done_at is not None and self.clock.now >= self._done_at:
            self.conversion = self._result & 0xFFFF
            self.config |= 0x8000
            self._done_at = None
            self.conversions += 1

    def read(self, length: int) -> bytes:
        self._settle()
        value = {0: self.conversion, 1: self.config}.get(self.pointer, 0)
        return (value.to_bytes(2, "big") * length)[:length]
