"""A fake BH1750FVI: power states, MTreg, one-time modes with typical timing, a data register.

The data register keeps its previous value until a measurement completes (typical time × MTreg/69
of the fake clock); a one-time measurement then powers the chip down. Measurement opcodes are
ignored while powered down, as in the datasheet's state diagram. Set `lux` (physical) or `count`.
"""

from __future__ import annotations

from tests.fakes.i2c import FakeClock, nak

TYPICAL_S = {0x20: 0.120, 0x21: 0.120, 0x23: 0.016, 0x10: 0.120, 0x11: 0.120, 0x13: 0.016}


class FakeBH1750:
    def __init__(self, clock: FakeClock, address: int = 0x23) -> None:
        self.clock, self.address = clock, address
        self.lux = 500.0
        self.count: int | None = None
        self.powered = False
        self.mtreg = 69
        self.data = 0
        self._pending: tuple[float, int] | None = None
        self.measurements = 0

    def _count(self, opcode: int) -> int:
        if self.count is not None:
            return self.count
        factor = 2 if opcode in (0x21, 0x11) else 1
        return min(0xFFFF, round(self.lux * 1.2 * self.mtreg / 69 * factor))  # saturates

    def write(self, data: bytes) -> None:
        if len(data) != 1:
            raise nak(self.address)
        op = data[0]
        if op == 0x00:
            self.powered = False
        elif op == 0x01:
            self.powered = True
        elif op == 0x07 and self.powered:
            self.data = 0
        elif op >> 3 == 0b01000:
            self.mtreg = (op & 0x07) << 5 | self.mtreg & 0x1F
        elif op >> 5 == 0b011:
            self.mtreg = self.mtreg & 0xE0 | op & 0x1F
        elif op in TYPICAL_S and self.powered:
            self._pending = (self.clock.now + TYPICAL_S[op] * self.mtreg / 69, op)

    def _settle(self) -> None:
        if self._pending and self.clock.now >= self._pending[0]:
            self.data = self._count(self._pending[1])
            if self._pending[1] & 0x20:
                self.powered = False  # one-time modes power down after measuring
            self._pending = None
            self.measurements += 1

    def read(self, length: int) -> bytes:
        self._settle()
        return (self.data.to_bytes(2, "big") + b"\xff" * length)[:length]
