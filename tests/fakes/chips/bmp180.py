"""A fake BMP180 (datasheet BST-BMP180-DS000-09): chip id, soft reset, calibration EEPROM at
0xAA..0xBF, a control register whose Sco bit stays set until the conversion time of the fake clock
has passed (table 8, typical), and result registers 0xF6..0xF8 holding the raw ADC values.

The chip measures raw values: the test sets `ut` and `up` (the 16..19-bit ADC results, as in the
datasheet's worked example); the fake places UP in the registers shifted for the oversampling
setting of the conversion that was started, as the chip does (UP = reg >> (8 - oss)).
"""

from __future__ import annotations

from tests.fakes.i2c import FakeClock, RegisterChip

#: the datasheet's worked example (§3.5): AC1..MD
EXAMPLE_CALIBRATION = (408, -72, -14383, 32741, 32757, 23153, 6190, 4, -32768, -8711, 2868)
TYPICAL_S = {0x2E: 0.0030, 0x34: 0.0030, 0x74: 0.0060, 0xB4: 0.0120, 0xF4: 0.0225}


class FakeBMP180(RegisterChip):
    def __init__(
        self, clock: FakeClock, calibration: tuple[int, ...] = EXAMPLE_CALIBRATION
    ) -> None:
        super().__init__(0x77)
        self.clock = clock
        self.regs[0xD0] = 0x55
        for i, word in enumerate(calibration):
            self.regs[0xAA + 2 * i : 0xAC + 2 * i] = (word & 0xFFFF).to_bytes(2, "big")
        self.ut, self.up = 27898, 23843
        self.resets = 0
        self._done_at: float | None = None
        self._pending: bytes = b""

    def on_write(self, register: int, value: int) -> None:
        if register == 0xE0 and value == 0xB6:
            self.resets += 1
            self.regs[0xF4] = 0
        elif register == 0xF4 and value in TYPICAL_S:
            self._done_at = self.clock.now + TYPICAL_S[value]
            self.regs[0xF4] = value | 0x20  # Sco set while converting
            if value == 0x2E:
                self._pending = self.ut.to_bytes(2, "big") + b"\x00"
            else:
                oss = value >> 6
                self._pending = (self.up << (8 - oss)).to_bytes(3, "big")
        elif register not in (0xE0, 0xF4):
            super().on_write(register, value)  # EEPROM and id are read-only on the chip

    def on_read(self, register: int) -> int:
        if self._done_at is not None and self.clock.now >= self._done_at:
            self.regs[0xF6:0xF9] = self._pending
            self.regs[0xF4] &= ~0x20 & 0xFF
            self._done_at = None
        return self.regs[register]
