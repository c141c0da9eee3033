"""A fake BME280 (datasheet BST-BME280-DS002): register map, reset values, NVM copy, forced mode.

Calibration: dig_T*/dig_P* are the worked example of the Bosch BMP280 datasheet (§3.12, the same
compensation as the BME280), dig_H* are a real BME280's trimming values. The raw ADC values a
measurement produces are the attributes `adc_t`, `adc_p`, `adc_h`. A forced measurement takes the
datasheet's *typical* time (§9.1) of the fake clock; until then `status.measuring` is set and the
data registers hold the previous values.
"""

from __future__ import annotations

from tests.fakes.i2c import FakeClock, RegisterChip

BMP280_EXAMPLE = {
    "T1": 27504,
    "T2": 26435,
    "T3": -1000,
    "P1": 36477,
    "P2": -10685,
    "P3": 3024,
    "P4": 2855,
    "P5": 140,
    "P6": -7,
    "P7": 15500,
    "P8": -14600,
    "P9": 6000,
}
REAL_CHIP_H = {"H1": 75, "H2": 362, "H3": 0, "H4": 313, "H5": 50, "H6": 30}
OSRS = {0: 0, 1: 1, 2: 2, 3: 4, 4: 8, 5: 16}


def calibration_bytes(c: dict[str, int]) -> tuple[bytes, bytes]:
    """Encode the trimming values the way the chip stores them (§4.2.2 table 16)."""
    order = ["T1", "T2", "T3", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"]
    tp = b"".join((c[k] & 0xFFFF).to_bytes(2, "little") for k in order) + bytes([0, c["H1"]])
    h4, h5 = c["H4"] & 0xFFF, c["H5"] & 0xFFF
    h = (c["H2"] & 0xFFFF).to_bytes(2, "little") + bytes(
        [c["H3"], h4 >> 4, (h5 & 0x0F) << 4 | h4 & 0x0F, h5 >> 4, c["H6"] & 0xFF]
    )
    return tp, h


class FakeBME280(RegisterChip):
    def __init__(
        self,
        clock: FakeClock,
        address: int = 0x76,
        chip_id: int = 0x60,
        calibration: dict[str, int] | None = None,
    ) -> None:
        super().__init__(address)
        self.clock = clock
        self.chip_id = chip_id
        self.calibration = calibration or {**BMP280_EXAMPLE, **REAL_CHIP_H}
        self.adc_t, self.adc_p, self.adc_h = 519888, 415148, 30000
        self.slowdown = 1.0  # >1 models a chip slower than typical
        self.measurements = 0
        self._reset()

    def _reset(self) -> None:
        self.regs[:] = bytes(256)
        tp, h = calibration_bytes(self.calibration)
        self.regs[0x88 : 0x88 + 26] = tp
        self.regs[0xE1 : 0xE1 + 7] = h
        self.regs[0xD0] = self.chip_id
        self.regs[0xF7:0xFF] = bytes([0x80, 0, 0, 0x80, 0, 0, 0x80, 0])  # §5.3 reset values
        self._ctrl_hum_latched = 0
        self._busy_until = self.clock.now
        self._nvm_until = self.clock.now + 0.001  # im_update while the NVM is copied
        self._pending: bytes | None = None

    def on_write(self, register: int, value: int) -> None:
        if register == 0xE0:
            if value == 0xB6:
                self._reset()
            return
        if register in (0xD0, 0xF3) or 0x88 <= register <= 0xA1 or register >= 0xF7:
            return  # read-only
        self.regs[register] = value
        if register == 0xF4:
            self._ctrl_hum_latched = self.regs[0xF2] & 0x07  # §5.4.3
            if value & 0x03 in (0b01, 0b10):
                self._start_forced(value)

    def _start_forced(self, ctrl_meas: int) -> None:
        t, p, h = OSRS[ctrl_meas >> 5 & 7], OSRS[ctrl_meas >> 2 & 7], OSRS[self._ctrl_hum_latched]
        typ_ms = 1 + 2 * t + (2 * p + 0.5 if p else 0) + (2 * h + 0.5 if h else 0)
        self._busy_until = self.clock.now + typ_ms / 1000 * self.slowdown
        press = self.adc_p if p else 0x80000
        temp = self.adc_t if t else 0x80000
        hum = self.adc_h if h else 0x8000
        self._pending = bytes(
            [
                press >> 12,
                press >> 4 & 0xFF,
                (press & 0xF) << 4,
                temp >> 12,
                temp >> 4 & 0xFF,
                (temp & 0xF) << 4,
                hum >> 8,
                hum & 0xFF,
            ]
        )

    def _settle(self) -> None:
        if self._pending is not None and self.clock.now >= self._busy_until:
            self.regs[0xF7:0xFF] = self._pending
            self.regs[0xF4] &= ~0x03 & 0xFF  # back to sleep mode after a forced measurement
            self._pending = None
            self.measurements += 1

    def on_read(self, register: int) -> int:
        self._settle()
        if register == 0xF3:
            measuring = 0x08 if self._pending is not None else 0
            return measuring | (0x01 if self.clock.now < self._nvm_until else 0)
        return self.regs[register]
