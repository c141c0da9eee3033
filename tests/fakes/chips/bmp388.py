"""A fake BMP388/BMP390: chip id, soft reset, the 21 calibration bytes at 0x31 (an independent
published vector's by default), OSR/CONFIG, forced mode with data ready after the conversion time
of the fake clock, ERR_REG, and 24-bit little-endian raw values the test chooses."""

from __future__ import annotations

from tests.fakes.i2c import FakeClock, RegisterChip

NVM = bytes.fromhex("236B5849F65CFFCEF42300EA636E79F3F6AA4312C4")  # elixir-sensors/bmp3xx
RAW = bytes.fromhex("979F6D73D885")  # -> 100876.006 Pa, 30.4993 °C


class FakeBMP388(RegisterChip):
    def __init__(self, clock: FakeClock, chip_id: int = 0x50) -> None:
        super().__init__(0x77)
        self.clock = clock
        self.regs[0x00] = chip_id
        self.regs[0x31:0x46] = NVM
        self.raw = RAW
        self.resets = 0
        self._done_at: float | None = None

    def on_write(self, register: int, value: int) -> None:
        if register == 0x7E:
            if value == 0xB6:
                self.resets += 1
            return
        super().on_write(register, value)
        if register == 0x1B and value >> 4 & 0b11 == 0b01:
            self.regs[0x03] = 0x10  # cmd_rdy, no data yet
            self._done_at = self.clock.now + 0.0025  # quicker than the driver's wait

    def on_read(self, register: int) -> int:
        if self._done_at is not None and self.clock.now >= self._done_at:
            self._done_at = None
            self.regs[0x04:0x0A] = self.raw
            self.regs[0x03] = 0x70
            self.regs[0x1B] &= 0x03  # back to sleep after forced mode
        return self.regs[register]
