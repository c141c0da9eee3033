"""A fake INA226 / INA260 that computes its registers as §7.5 describes: the shunt ADC from the
current through the shunt, Current = Shunt × CAL / 2048, Power = Current × Bus / 20000 (INA226);
the INA260's fixed 1.25 mA / 10 mW LSBs. A triggered conversion sets CVRF after samples × (bus +
shunt conversion time) of the fake clock; reading Mask/Enable clears CVRF; OVF when the current
or power register would overflow."""

from __future__ import annotations

from tests.fakes.i2c import FakeClock

CT = (0.000140, 0.000204, 0.000332, 0.000588, 0.001100, 0.002116, 0.004156, 0.008244)
AVG = (1, 4, 16, 64, 128, 256, 512, 1024)


class FakeINA226:
    def __init__(
        self, clock: FakeClock, chip: str = "ina226", address: int = 0x40, shunt_ohms: float = 0.1
    ) -> None:
        self.clock, self.chip, self.address = clock, chip, address
        self.shunt_ohms = 0.002 if chip == "ina260" else shunt_ohms
        self.amps, self.volts = 0.25, 12.0
        self.regs = {
            0: 0x4127 if chip == "ina226" else 0x6127,
            1: 0,
            2: 0,
            3: 0,
            4: 0,
            5: 0,
            6: 0,
            0xFE: 0x5449,
            0xFF: 0x2260 if chip == "ina226" else 0x2270,
        }
        self.pointer = 0
        self._done_at: float | None = None

    def _convert(self) -> None:
        shunt = round(self.amps * self.shunt_ohms / 2.5e-6)
        shunt = max(-32768, min(32767, shunt))  # the ADC saturates
        bus = round(self.volts / 1.25e-3) & 0x7FFF
        if self.chip == "ina260":
            current = round(self.amps / 1.25e-3)
            power = round(abs(self.amps * self.volts) / 10e-3)
        else:
            current = (
                shunt * self.regs[5] // 2048 if shunt >= 0 else -((-shunt) * self.regs[5] // 2048)
            )
            power = abs(current) * bus // 20000
        overflow = not -32768 <= current <= 32767 or power > 0xFFFF
        self.regs[1], self.regs[2] = shunt & 0xFFFF, bus
        self.regs[4], self.regs[3] = current & 0xFFFF, power & 0xFFFF
        self.regs[6] = self.regs[6] & ~0x000C | 0x0008 | (0x0004 if overflow else 0)

    def _settle(self) -> None:
        if self._done_at is not None and self.clock.now >= self._done_at:
            self._done_at = None
            self._convert()

    def write(self, data: bytes) -> None:
        self.pointer = data[0]
        if len(data) == 3:
            value = data[1] << 8 | data[2]
            if self.pointer == 0:
                self.regs[0] = value
                if value & 0b111 == 0b011:  # shunt and bus, triggered
                    avg, bus_ct, shunt_ct = value >> 9 & 7, value >> 6 & 7, value >> 3 & 7
                    self._done_at = self.clock.now + AVG[avg] * (CT[bus_ct] + CT[shunt_ct])
                    self.regs[6] &= ~0x0008
            elif self.pointer == 5 and self.chip == "ina226":
                self.regs[5] = value & 0x7FFF
            elif self.pointer == 6:
                self.regs[6] = value & 0xFC13 | self.regs[6] & 0x000C

    def read(self, length: int) -> bytes:
        self._settle()
        value = self.regs.get(self.pointer, 0)
        if self.pointer == 6:
            self.regs[6] &= ~0x0008  # reading Mask/Enable clears CVRF
        return value.to_bytes(2, "big")[:length]
