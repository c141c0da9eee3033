"""Bosch BME280 temperature / humidity / pressure sensor (datasheet BST-BME280-DS002).

How it works: `open()` checks the chip id (0x60), soft-resets, waits for the NVM copy, reads the
trimming parameters (0x88-0xA1, 0xE1-0xE7, §4.2.2) and sets the IIR filter. Each `read()` starts
one forced-mode measurement (§3.3.3), waits the datasheet's maximum measurement time (§9.1), polls
`status.measuring`, burst-reads 0xF7-0xFE (§4) and applies the datasheet's integer compensation
(§4.2.3 / §8.2: 32-bit temperature, 64-bit pressure, 32-bit humidity). The compensation functions
are pure and take the calibration as a value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import DeviceNotFound, Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

# Register map (§5.3 memory map)
REG_CALIB_00 = 0x88  # 0x88..0xA1: dig_T1..dig_P9, (0xA0 unused), dig_H1
REG_CHIP_ID = 0xD0
REG_RESET = 0xE0
REG_CALIB_26 = 0xE1  # 0xE1..0xE7: dig_H2..dig_H6
REG_CTRL_HUM = 0xF2
REG_STATUS = 0xF3
REG_CTRL_MEAS = 0xF4
REG_CONFIG = 0xF5
REG_DATA = 0xF7  # press_msb .. hum_lsb, 8 bytes
CHIP_ID = 0x60  # §5.4.1
RESET_WORD = 0xB6  # §5.4.2
STATUS_MEASURING = 0x08  # §5.4.4 bit 3
STATUS_IM_UPDATE = 0x01  # §5.4.4 bit 0
MODE_FORCED = 0b01  # §5.4.5
ADDRESSES = (0x76, 0x77)  # SDO to GND / VDDIO (§6.2)
#: oversampling factor -> osrs_x field (§5.4.3, §5.4.5); 0 = measurement skipped
OVERSAMPLING = {0: 0b000, 1: 0b001, 2: 0b010, 4: 0b011, 8: 0b100, 16: 0b101}
#: IIR filter coefficient -> filter field (§5.4.6)
FILTER = {0: 0b000, 2: 0b001, 4: 0b010, 8: 0b011, 16: 0b100}
SKIPPED_20BIT = 0x80000  # output of a skipped temperature / pressure measurement (§4.1)
SKIPPED_16BIT = 0x8000  # output of a skipped humidity measurement
STARTUP_S = 0.002  # start-up time after power-on / soft reset, max 2 ms (§1 table 1)
#: operating range (§1 table 1 and 2): outside it the value is not a measurement
T_RANGE_C = (-40.0, 85.0)
P_RANGE_HPA = (300.0, 1100.0)


@dataclass(frozen=True, slots=True)
class Calibration:
    """The trimming parameters (§4.2.2 table 16)."""

    T1: int
    T2: int
    T3: int
    P1: int
    P2: int
    P3: int
    P4: int
    P5: int
    P6: int
    P7: int
    P8: int
    P9: int
    H1: int
    H2: int
    H3: int
    H4: int
    H5: int
    H6: int


def _s16(lo: int, hi: int) -> int:
    v = lo | hi << 8
    return v - 0x10000 if v & 0x8000 else v


def _s12(v: int) -> int:
    return v - 0x1000 if v & 0x800 else v


def parse_calibration(tp: bytes, h: bytes) -> Calibration:
    """Decode 0x88..0xA1 (26 bytes) and 0xE1..0xE7 (7 bytes) per §4.2.2 table 16."""
    if len(tp) != 26 or len(h) != 7:
        raise ValueError("calibration blocks must be 26 and 7 bytes")
    u16 = [tp[i] | tp[i + 1] << 8 for i in range(0, 24, 2)]
    s16 = [_s16(tp[i], tp[i + 1]) for i in range(0, 24, 2)]
    return Calibration(
        T1=u16[0],
        T2=s16[1],
        T3=s16[2],
        P1=u16[3],
        P2=s16[4],
        P3=s16[5],
        P4=s16[6],
        P5=s16[7],
        P6=s16[8],
        P7=s16[9],
        P8=s16[10],
        P9=s16[11],
        H1=tp[25],
        H2=_s16(h[0], h[1]),
        H3=h[2],
        H4=_s12(h[3] << 4 | h[4] & 0x0F),  # 0xE4[7:0] / 0xE5[3:0]
        H5=_s12(h[5] << 4 | h[4] >> 4),  # 0xE6[7:0] / 0xE5[7:4]
        H6=h[6] - 0x100 if h[6] & 0x80 else h[6],  # signed char
    )


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero), as the datasheet's code uses."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def t_fine(adc_t: int, c: Calibration) -> int:
    """§4.2.3 BME280_compensate_T_int32, the shared fine temperature."""
    var1 = (((adc_t >> 3) - (c.T1 << 1)) * c.T2) >> 11
    var2 = (((((adc_t >> 4) - c.T1) * ((adc_t >> 4) - c.T1)) >> 12) * c.T3) >> 14
    return var1 + var2


def compensate_temperature(tf: int) -> int:
    """Temperature in 0.01 °C from t_fine (§4.2.3)."""
    return (tf * 5 + 128) >> 8


def compensate_pressure(adc_p: int, tf: int, c: Calibration) -> int:
    """Pressure in Pa as Q24.8 (1/256 Pa), §4.2.3 BME280_compensate_P_int64."""
    var1 = tf - 128000
    var2 = var1 * var1 * c.P6
    var2 = var2 + ((var1 * c.P5) << 17)
    var2 = var2 + (c.P4 << 35)
    var1 = ((var1 * var1 * c.P3) >> 8) + ((var1 * c.P2) << 12)
    var1 = (((1 << 47) + var1) * c.P1) >> 33
    if var1 == 0:
        raise InvalidReading("BME280: pressure compensation divides by zero (bad calibration)")
    p = 1048576 - adc_p
    p = _cdiv(((p << 31) - var2) * 3125, var1)
    var1 = (c.P9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (c.P8 * p) >> 19
    return ((p + var1 + var2) >> 8) + (c.P7 << 4)


def compensate_humidity(adc_h: int, tf: int, c: Calibration) -> int:
    """Humidity in %RH as Q22.10 (1/1024 %), §4.2.3 bme280_compensate_H_int32.

    The datasheet clamps the result to 0..100 %; we raise InvalidReading instead of clamping.
    """
    v = tf - 76800
    v = ((((adc_h << 14) - (c.H4 << 20) - (c.H5 * v)) + 16384) >> 15) * (
        ((((((v * c.H6) >> 10) * (((v * c.H3) >> 11) + 32768)) >> 10) + 2097152) * c.H2 + 8192)
        >> 14
    )
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * c.H1) >> 4)
    if not 0 <= v <= 419430400:
        raise InvalidReading(f"BME280: humidity {v / 4194304:.2f} %RH is outside 0..100 %")
    return v >> 12


def measurement_time_s(osrs_t: int, osrs_p: int, osrs_h: int) -> float:
    """Maximum measurement time for the given oversampling factors (§9.1, Appendix B)."""
    ms = 1.25 + 2.3 * osrs_t
    if osrs_p:
        ms += 2.3 * osrs_p + 0.575
    if osrs_h:
        ms += 2.3 * osrs_h + 0.575
    return ms / 1000.0


def _check_range(name: str, value: float, low: float, high: float, unit: str) -> float:
    if not low <= value <= high:
        raise InvalidReading(f"BME280: {name} {value:.2f} {unit} is outside {low}..{high} {unit}")
    return value


def decode(data: bytes, c: Calibration, osrs: tuple[int, int, int]) -> list[Reading]:
    """Burst data 0xF7..0xFE -> readings; skipped channels are left out (§4.1)."""
    adc_p = data[0] << 12 | data[1] << 4 | data[2] >> 4
    adc_t = data[3] << 12 | data[4] << 4 | data[5] >> 4
    adc_h = data[6] << 8 | data[7]
    if adc_t == SKIPPED_20BIT:
        raise InvalidReading("BME280: temperature not measured (power-on value 0x80000)")
    tf = t_fine(adc_t, c)
    temp = _check_range("temperature", compensate_temperature(tf) / 100, *T_RANGE_C, "°C")
    out = [Reading("temperature", temp, "°C")]
    if osrs[2]:
        if adc_h == SKIPPED_16BIT:
            raise InvalidReading("BME280: humidity not measured (0x8000)")
        out.append(Reading("humidity", compensate_humidity(adc_h, tf, c) / 1024, "%"))
    if osrs[1]:
        if adc_p == SKIPPED_20BIT:
            raise InvalidReading("BME280: pressure not measured (0x80000)")
        hpa = compensate_pressure(adc_p, tf, c) / 256 / 100
        out.append(Reading("pressure", _check_range("pressure", hpa, *P_RANGE_HPA, "hPa"), "hPa"))
    return out


def _option(table: dict[int, int], value: int, what: str) -> int:
    if value not in table:
        raise ValueError(f"BME280: {what} must be one of {sorted(table)}, got {value!r}")
    return table[value]


class BME280(Driver):
    """Forced-mode BME280. Oversampling factors 0 (skip), 1, 2, 4, 8, 16; IIR filter 0..16."""

    quantities = (("temperature", "°C"), ("humidity", "%"), ("pressure", "hPa"))
    MAX_POLLS = 10

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x76,
        *,
        oversampling_temperature: int = 1,
        oversampling_pressure: int = 1,
        oversampling_humidity: int = 1,
        iir_filter: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bus = bus
        self.address = check_address(address, ADDRESSES, "BME280")
        if oversampling_temperature == 0:
            raise ValueError("BME280: temperature cannot be skipped (the others need t_fine)")
        self.osrs = (oversampling_temperature, oversampling_pressure, oversampling_humidity)
        self._codes = tuple(_option(OVERSAMPLING, v, "oversampling") for v in self.osrs)
        self._filter = _option(FILTER, iir_filter, "iir_filter")
        self.sleep = sleep
        self.calibration: Calibration | None = None

    def open(self) -> None:
        with missing_as_not_found(self.address, "BME280"):
            chip_id = self.bus.read_byte_data(self.address, REG_CHIP_ID)
        if chip_id != CHIP_ID:
            raise DeviceNotFound(
                f"BME280: chip id at 0x{self.address:02X} is 0x{chip_id:02X}, "
                f"expected 0x{CHIP_ID:02X} (0x58 is a BMP280)"
            )
        self.bus.write_byte_data(self.address, REG_RESET, RESET_WORD)
        self.sleep(STARTUP_S)
        self._poll_status(STATUS_IM_UPDATE, "NVM copy")
        tp = bytes(self.bus.read_i2c_block_data(self.address, REG_CALIB_00, 26))
        h = bytes(self.bus.read_i2c_block_data(self.address, REG_CALIB_26, 7))
        self.calibration = parse_calibration(tp, h)
        # config is written in sleep mode only (§5.4.6)
        self.bus.write_byte_data(self.address, REG_CONFIG, self._filter << 2)

    def _poll_status(self, bit: int, what: str) -> None:
        for _ in range(self.MAX_POLLS):
            if not self.bus.read_byte_data(self.address, REG_STATUS) & bit:
                return
            self.sleep(0.001)
        raise InvalidReading(f"BME280: {what} did not finish")

    def read(self) -> list[Reading]:
        if self.calibration is None:
            raise RuntimeError("BME280: read() before open()")
        t, p, h = self._codes
        # ctrl_hum takes effect only after a write to ctrl_meas (§5.4.3)
        self.bus.write_byte_data(self.address, REG_CTRL_HUM, h)
        self.bus.write_byte_data(self.address, REG_CTRL_MEAS, t << 5 | p << 2 | MODE_FORCED)
        self.sleep(measurement_time_s(*self.osrs))
        self._poll_status(STATUS_MEASURING, "measurement")
        data = bytes(self.bus.read_i2c_block_data(self.address, REG_DATA, 8))
        return decode(data, self.calibration, self.osrs)
