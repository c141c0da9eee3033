"""A fake INA219 (SBOS448G): registers, reset 0x399F, triggered conversions, on-chip maths.

Set `shunt_ohms`, `current` (A through the shunt) and `bus_voltage` (V). A triggered conversion
finishes after the shunt and bus conversion times of the fake clock; then CNVR is set and the
current and power registers are computed as the chip does (§8.5.1 eq. 4-5). The shunt register
saturates at the PGA range; OVF is set when current or power do not fit their registers.
"""

from __future__ import annotations

from tests.fakes.i2c import FakeClock, nak

ADC_S = {
    0: 84e-6,
    1: 148e-6,
    2: 276e-6,
    3: 532e-6,
    8: 532e-6,
    9: 1.06e-3,
    10: 2.13e-3,
    11: 4.26e-3,
    12: 8.51e-3,
    13: 17.02e-3,
    14: 34.05e-3,
    15: 68.10e-3,
}
PGA_LIMIT = [4000, 8000, 16000, 32000]


class FakeINA219:
    def __init__(self, clock: FakeClock, address: int = 0x40) -> None:
        self.clock, self.address = clock, address
        self.shunt_ohms, self.current, self.bus_voltage = 0.1, 0.0, 0.0
        self.regs = [0x399F, 0, 0, 0, 0, 0]
        self.pointer = 0
        self._done_at: float | None = None

    def write(self, data: bytes) -> None:
        if not data or data[0] > 5 or len(data) not in (1, 3):
            raise nak(self.address)
        self.pointer = data[0]
        if len(data) == 3:
            self._write_reg(self.pointer, int.from_bytes(data[1:], "big"))

    def _write_reg(self, reg: int, value: int) -> None:
        if reg == 0:
            if value & 0x8000:
                self.regs = [0x399F, 0, 0, 0, 0, 0]
                return
            self.regs[0] = value
            self.regs[2] &= ~0x0002  # writing config clears CNVR
            if value & 0x7 in (1, 2, 3):
                times = ADC_S[value >> 7 & 0xF] + ADC_S[value >> 3 & 0xF]
                self._done_at = self.clock.now + times
        elif reg == 5:
            self.regs[5] = value & 0xFFFE  # bit 0 is void

    def _convert(self) -> None:
        cfg = self.regs[0]
        limit = PGA_LIMIT[cfg >> 11 & 3]
        shunt = max(-limit, min(limit, round(self.current * self.shunt_ohms / 10e-6)))
        bus = max(0, min(0x1FFF, round(self.bus_voltage / 4e-3)))
        current = int(shunt * self.regs[5] / 4096)
        power = int(abs(current) * bus / 5000)
        ovf = not -0x8000 <= current <= 0x7FFF or power > 0xFFFF
        self.regs[1] = shunt & 0xFFFF
        self.regs[4] = current & 0xFFFF
        self.regs[3] = power & 0xFFFF
        self.regs[2] = bus << 3 | 0x0002 | int(ovf)

    def read(self, length: int) -> bytes:
        if self._done_at is not None and self.clock.now >= self._done_at:
            self._done_at = None
            self._convert()
        value = self.regs[self.pointer]
        if self.pointer == 3:
            self.regs[2] &= ~0x0002  # reading POWER clears CNVR
        return (value.to_bytes(2, "big") * length)[:length]
