"""A fake BME680/BME688: chip and variant ids, soft reset, calibration registers laid out as in
§5.2 table 14, forced mode that sets meas_status_0's measuring bits until the conversion and
heating time of the fake clock has passed, then new_data, and data registers holding raw ADC
values the test chooses (the sensor measures raw values), with the gas flags of its variant."""

from __future__ import annotations

from tests.fakes.i2c import FakeClock, RegisterChip

#: an independent published test vector's calibration (elixir-sensors/bmp280's BME680 test)
VECTOR = {
    "t1": 26195,
    "t2": 26290,
    "t3": 3,
    "p1": 35395,
    "p2": -10405,
    "p3": 88,
    "p4": 4836,
    "p5": -118,
    "p6": 30,
    "p7": 26,
    "p8": -765,
    "p9": -3367,
    "p10": 30,
    "h1": 717,
    "h2": 1021,
    "h3": 0,
    "h4": 45,
    "h5": 20,
    "h6": 120,
    "h7": -100,
    "g1": -30,
    "g2": -5969,
    "g3": 18,
}


def _le(value: int) -> bytes:
    return (value & 0xFFFF).to_bytes(2, "little")


class FakeBME680(RegisterChip):
    def __init__(
        self,
        clock: FakeClock,
        address: int = 0x77,
        variant: int = 0,
        calibration: dict | None = None,
    ) -> None:
        super().__init__(address)
        self.clock = clock
        c = dict(VECTOR, **(calibration or {}))
        r = self.regs
        r[0xD0], r[0xF0] = 0x61, variant
        r[0xE9:0xEB], r[0x8A:0x8C], r[0x8C] = _le(c["t1"]), _le(c["t2"]), c["t3"] & 0xFF
        r[0x8E:0x90], r[0x90:0x92], r[0x92] = _le(c["p1"]), _le(c["p2"]), c["p3"] & 0xFF
        r[0x94:0x96], r[0x96:0x98] = _le(c["p4"]), _le(c["p5"])
        r[0x99], r[0x98] = c["p6"] & 0xFF, c["p7"] & 0xFF
        r[0x9C:0x9E], r[0x9E:0xA0], r[0xA0] = _le(c["p8"]), _le(c["p9"]), c["p10"] & 0xFF
        r[0xE3], r[0xE1] = c["h1"] >> 4, c["h2"] >> 4
        r[0xE2] = (c["h2"] & 0x0F) << 4 | c["h1"] & 0x0F
        r[0xE4], r[0xE5], r[0xE6] = c["h3"] & 0xFF, c["h4"] & 0xFF, c["h5"] & 0xFF
        r[0xE7], r[0xE8] = c["h6"], c["h7"] & 0xFF
        r[0xED], r[0xEB:0xED], r[0xEE] = c["g1"] & 0xFF, _le(c["g2"]), c["g3"] & 0xFF
        self.variant = variant
        self.raw = {"temperature": 480_732, "pressure": 393_705, "humidity": 16820}
        self.gas_adc, self.gas_range = 195, 9
        self.heat_stable = True
        self.resets = 0
        self._done_at: float | None = None
        self.forced: list[int] = []  # res_heat_0 at each forced measurement

    def _duration(self) -> float:
        os = {0: 0, 1: 1, 2: 2, 3: 4, 4: 8, 5: 16}
        ctrl = self.regs[0x74]
        cycles = os[ctrl >> 5] + os[ctrl >> 2 & 7] + os[self.regs[0x72] & 7]
        wait = self.regs[0x64]
        heat = (wait & 0x3F) * (1, 4, 16, 64)[wait >> 6] / 1000 if self.regs[0x71] & 0x30 else 0
        return cycles * 0.00192 + 0.003 + heat  # a little quicker than the driver waits

    def on_write(self, register: int, value: int) -> None:
        if register == 0xE0 and value == 0xB6:
            self.resets += 1
            return
        super().on_write(register, value)
        if register == 0x74 and value & 0x03 == 0b01:
            self.forced.append(self.regs[0x5A])
            self._done_at = self.clock.now + self._duration()
            self.regs[0x1D] = 0x20  # measuring

    def on_read(self, register: int) -> int:
        if self._done_at is not None and self.clock.now >= self._done_at:
            self._done_at = None
            p, t, h = self.raw["pressure"], self.raw["temperature"], self.raw["humidity"]
            self.regs[0x1F:0x22] = bytes([p >> 12, p >> 4 & 0xFF, (p & 0x0F) << 4])
            self.regs[0x22:0x25] = bytes([t >> 12, t >> 4 & 0xFF, (t & 0x0F) << 4])
            self.regs[0x25:0x27] = bytes([h >> 8, h & 0xFF])
            flags = 0x20 | (0x10 if self.heat_stable else 0) | self.gas_range
            gas = bytes([self.gas_adc >> 2, (self.gas_adc & 0x03) << 6 | flags])
            self.regs[0x2C if self.variant else 0x2A : (0x2C if self.variant else 0x2A) + 2] = gas
            self.regs[0x1D] = 0x80  # new data
        return self.regs[register]
