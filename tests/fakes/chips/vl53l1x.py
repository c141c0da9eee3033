"""A fake VL53L1X: a register file behind a 16-bit index (MSB first, auto-increment on reads and
writes), the model id 0xEACC at 0x010F, FIRMWARE__SYSTEM_STATUS that reports booted 1.2 ms after
power-up, RESULT__OSC_CALIBRATE_VAL, and ranging back to back once SYSTEM__MODE_START is 0x40:
a new result every inter-measurement period (decoded from the register the driver wrote), data
ready on GPIO__TIO_HV_STATUS bit 0 at the polarity GPIO_HV_MUX__CTRL bit 4 selects, held until
SYSTEM__INTERRUPT_CLEAR. The test sets `raw_status` (RESULT__RANGE_STATUS bits 4:0, the device's
own code, not UM2510's) and `millimetres`."""

from __future__ import annotations

import math

from tests.fakes.i2c import FakeClock, nak

BOOT_S = 0.0012


class FakeVL53L1X:
    def __init__(self, clock: FakeClock, model_id: int = 0xEACC, osc: int = 0x0C5A) -> None:
        self.clock, self.address = clock, 0x29
        self.regs = bytearray(0x200)
        self.regs[0x010F:0x0111] = model_id.to_bytes(2, "big")
        self.regs[0x00DE:0x00E0] = osc.to_bytes(2, "big")  # bits 9:0 are the calibration
        self.regs[0x0030] = 0x01  # bit 4 = 0: interrupt active high
        self.boot_at: float | None = clock.now + BOOT_S
        self.raw_status, self.millimetres = 9, 1234  # 9: range valid
        self.started_at: float | None = None
        self.cleared_at = 0.0
        self.pointer = 0
        self.writes: list[tuple[int, bytes]] = []

    # -- ranging --
    def period_s(self) -> float:
        osc = int.from_bytes(self.regs[0x00DE:0x00E0], "big") & 0x3FF
        value = int.from_bytes(self.regs[0x006C:0x0070], "big")
        return max(value / osc / 1.075, 15.0) / 1000

    def _samples_by(self, t: float) -> int:
        if self.started_at is None or t < self.started_at:
            return 0
        return math.floor((t - self.started_at) / self.period_s())

    def ready(self) -> bool:
        return self._samples_by(self.clock.now) > self._samples_by(self.cleared_at)

    def _refresh(self) -> None:
        booted = self.boot_at is not None and self.clock.now >= self.boot_at
        self.regs[0x00E5] = 0x01 if booted else 0x00
        active = 0 if self.regs[0x0030] & 0x10 else 1
        self.regs[0x0031] = active if self.ready() else active ^ 1
        if self.ready():
            self.regs[0x0089] = self.raw_status & 0x1F
            self.regs[0x0096:0x0098] = self.millimetres.to_bytes(2, "big")

    # -- the bus --
    def write(self, data: bytes) -> None:
        if len(data) < 2:
            raise nak(self.address)  # the index is two bytes
        self.pointer = data[0] << 8 | data[1]
        if len(data) > 2:
            self.writes.append((self.pointer, bytes(data[2:])))
        for offset, value in enumerate(data[2:]):
            self._on_write(self.pointer + offset, value)

    def _on_write(self, register: int, value: int) -> None:
        if register == 0x0086:
            if value & 0x01:
                self.cleared_at = self.clock.now
            return
        if register == 0x0087:
            if value == 0x40:
                self.started_at = self.cleared_at = self.clock.now
            elif value == 0x00:
                self.started_at = None
        self.regs[register] = value

    def read(self, length: int) -> bytes:
        self._refresh()
        out = bytes(self.regs[self.pointer : self.pointer + length])
        self.pointer += length
        return out
