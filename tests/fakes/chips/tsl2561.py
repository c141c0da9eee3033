"""A fake TSL2561: command-byte register access, power state, timing register, ID, and two ADC
channels that integrate `visible` and `infrared` irradiance (counts per 402 ms at 16×) over the
integration time at the gain, saturating at the datasheet's maximum counts. New timing applies
to the integration that starts after the write."""

from __future__ import annotations

from tests.fakes.i2c import FakeClock, nak

INTEG = {0b00: (0.0137, 5047, 11 / 322), 0b01: (0.101, 37177, 81 / 322), 0b10: (0.402, 65535, 1.0)}


class FakeTSL2561:
    def __init__(self, clock: FakeClock, address: int = 0x39, part: int = 0x5) -> None:
        self.clock, self.address = clock, address
        self.regs = bytearray(16)
        self.regs[0x1] = 0x02  # 402 ms, 1x after power-up
        self.regs[0xA] = part << 4
        self.ch0_402_16x, self.ch1_402_16x = 20_000.0, 5_000.0  # what 402 ms at 16x would count
        self._started: float | None = None
        self.pointer = 0

    def _settle(self) -> None:
        if self._started is None:
            return
        seconds, maximum, fraction = INTEG[self.regs[0x1] & 0x03]
        if self.clock.now >= self._started + seconds:
            gain = 1 if self.regs[0x1] & 0x10 else 1 / 16
            for reg, value in ((0xC, self.ch0_402_16x), (0xE, self.ch1_402_16x)):
                count = min(maximum, int(value * gain * fraction))
                self.regs[reg : reg + 2] = count.to_bytes(2, "little")

    def write(self, data: bytes) -> None:
        if not data[0] & 0x80:
            raise nak(self.address)  # no CMD bit: not a command
        self.pointer = data[0] & 0x0F
        if len(data) == 2:
            if self.pointer == 0x0:
                self.regs[0] = data[1] & 0x03
                self._started = self.clock.now if self.regs[0] == 0x03 else None
            elif self.pointer == 0x1:
                self.regs[1] = data[1] & 0x13
                self._started = self.clock.now

    def read(self, length: int) -> bytes:
        self._settle()
        return bytes(self.regs[self.pointer : self.pointer + length])
