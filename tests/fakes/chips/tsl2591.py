"""A fake TSL2591: command byte 0xA0 | register, ENABLE, CONFIG (gain, integration time), ID,
STATUS.AVALID after an integration of the fake clock, and two channels that count `full` and `ir`
(counts per ms at gain 1) times the gain and the integration time, saturating at full scale."""

from __future__ import annotations

from tests.fakes.i2c import FakeClock, nak

GAIN = {0b00: 1.0, 0b01: 25.0, 0b10: 428.0, 0b11: 9876.0}


class FakeTSL2591:
    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.address = clock, 0x29
        self.regs = bytearray(0x20)
        self.regs[0x12] = 0x50
        self.full, self.ir = 10.0, 2.0  # counts per ms at gain 1
        self.pointer = 0
        self._started: float | None = None

    def _settle(self) -> None:
        if self._started is None or not self.regs[0x00] & 0x02:
            return
        atime = (self.regs[0x01] & 0x07) * 100 + 100
        if self.clock.now >= self._started + atime / 1000:
            gain = GAIN[self.regs[0x01] >> 4 & 0x03]
            limit = 36863 if atime == 100 else 65535
            c0 = min(limit, int(self.full * gain * atime))
            c1 = min(limit, int(self.ir * gain * atime))
            self.regs[0x14:0x18] = c0.to_bytes(2, "little") + c1.to_bytes(2, "little")
            self.regs[0x13] |= 0x01

    def write(self, data: bytes) -> None:
        if data[0] & 0xE0 != 0xA0:
            raise nak(self.address)
        self.pointer = data[0] & 0x1F
        if len(data) == 2:
            self.regs[self.pointer] = data[1]
            if self.pointer in (0x00, 0x01):
                self._started = self.clock.now
                self.regs[0x13] &= ~0x01

    def read(self, length: int) -> bytes:
        self._settle()
        return bytes(self.regs[self.pointer : self.pointer + length])
