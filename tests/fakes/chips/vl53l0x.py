"""A fake VL53L0X: 8-bit registers with auto-increment, the datasheet's reference registers
(0xC0 = 0xEE, 0xC1 = 0xAA, 0xC2 = 0x10), single ranging started by SYSRANGE_START = 0x01 (bit 0
reads 1 until the chip takes the start, 0.5 ms), a result after the power-on timing budget of
33 ms, RESULT_INTERRUPT_STATUS (bits 2:0 = the configured "new sample ready" event, bits 4:3 the
range error the test sets), the result block at 0x14 (device range status in bits 6:3, the range
in mm at 0x1E) and SYSTEM_INTERRUPT_CLEAR."""

from __future__ import annotations

from tests.fakes.i2c import FakeClock, RegisterChip

ACCEPT_S, BUDGET_S = 0.0005, 0.033


class FakeVL53L0X(RegisterChip):
    def __init__(self, clock: FakeClock, model_id: int = 0xEE) -> None:
        super().__init__(0x29)
        self.clock = clock
        self.regs[0xC0], self.regs[0xC1], self.regs[0xC2] = model_id, 0xAA, 0x10
        self.device_status, self.millimetres = 11, 457  # 11: range complete
        self.error_bits = 0  # RESULT_INTERRUPT_STATUS bits 4:3
        self.stuck = False  # never finishes a ranging
        self.started: float | None = None
        self.pending = False
        self.rangings = 0

    def _settle(self) -> None:
        if self.started is None:
            return
        if self.clock.now >= self.started + ACCEPT_S:
            self.regs[0x00] &= 0xFE
        if not self.stuck and self.clock.now >= self.started + BUDGET_S:
            self.started, self.pending = None, True
            self.regs[0x14] = self.device_status << 3 & 0x78
            self.regs[0x1E:0x20] = self.millimetres.to_bytes(2, "big")

    def on_write(self, register: int, value: int) -> None:
        self._settle()
        if register == 0x00 and value & 0x01:
            self.started, self.rangings = self.clock.now, self.rangings + 1
        elif register == 0x0B and value & 0x01:
            self.pending = False
        super().on_write(register, value)

    def on_read(self, register: int) -> int:
        self._settle()
        if register == 0x13:
            event = self.regs[0x0A] & 0x07 if self.pending else 0
            return event | (self.error_bits if self.pending else 0)
        return self.regs[register]
