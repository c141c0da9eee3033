"""Bosch BME680 / BME688 temperature, humidity, pressure and gas (MOX heater) sensor (datasheets
BST-BME680-DS001 and BST-BME688-DS000), in forced mode, without Bosch's closed BSEC library: the
gas reading is the heater plate's resistance in ohms (higher = cleaner air), not an IAQ index.

Registers (§5.2): chip id 0xD0 = 0x61; variant id 0xF0 (0 = BME680, 1 = BME688); soft reset 0xE0
= 0xB6; calibration in 0x89..0xA1 and 0xE1..0xF0 plus res_heat_range (0x02 bits 5:4),
res_heat_val (0x00) and range_switching_error (0x04 bits 7:4); ctrl_hum 0x72, ctrl_meas 0x74
(osrs_t 7:5, osrs_p 4:2, mode 1:0 = 01 forced), config 0x75 (filter 4:2), ctrl_gas_0 0x70,
ctrl_gas_1 0x71 (run_gas, heater profile 0), gas_wait_0 0x64 (duration: 6 bits × 1/4/16/64;
§3.2.1's example 0x59 = 100 ms), res_heat_0 0x5A (§3.3.5's heater resistance for the target
temperature); meas_status_0 0x1D (new_data bit 7, measuring bits 6:5), data 0x1F..0x26
(pressure and temperature 20 bits, humidity 16), gas 0x2A/0x2B on the BME680 and 0x2C/0x2D on
the BME688 (10-bit ADC, gas_valid bit 5, heat_stab bit 4, range 3:0).

Compensation: the datasheet's floating-point formulas for temperature, pressure and humidity
(§3.3.1-3.3.3); gas resistance by the BME680's range tables (§3.3.5, integer form) or the
BME688's formula. A gas reading whose heater did not reach its temperature (heat_stab 0) or that
is flagged invalid is left out of that reading (temperature, humidity and pressure are kept).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import DeviceNotFound, Driver, DriverError, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

ADDRESSES = (0x76, 0x77)
CHIP_ID, REG_CHIP_ID, REG_VARIANT, REG_RESET = 0x61, 0xD0, 0xF0, 0xE0
REG_STATUS, REG_DATA, REG_CTRL_HUM, REG_CTRL_MEAS, REG_CONFIG = 0x1D, 0x1F, 0x72, 0x74, 0x75
REG_CTRL_GAS_0, REG_CTRL_GAS_1, REG_GAS_WAIT_0, REG_RES_HEAT_0 = 0x70, 0x71, 0x64, 0x5A
OVERSAMPLING = {0: 0, 1: 1, 2: 2, 4: 3, 8: 4, 16: 5}
FILTER = {0: 0, 1: 1, 3: 2, 7: 3, 15: 4, 31: 5, 63: 6, 127: 7}
NEW_DATA, MEASURING = 0x80, 0x60
GAS_VALID, HEAT_STAB = 0x20, 0x10
#: BME680 gas ranges (§3.3.5, integer form): lookup tables 1 and 2
LOOKUP1 = (
    2147483647,
    2147483647,
    2147483647,
    2147483647,
    2147483647,
    2126008810,
    2147483647,
    2130303777,
    2147483647,
    2147483647,
    2143188679,
    2136746228,
    2147483647,
    2126008810,
    2147483647,
    2147483647,
)
LOOKUP2 = (
    4096000000,
    2048000000,
    1024000000,
    512000000,
    255744255,
    127110228,
    64000000,
    32258064,
    16016016,
    8000000,
    4000000,
    2000000,
    1000000,
    500000,
    250000,
    125000,
)
T_RANGE_C, P_RANGE_HPA = (-40.0, 85.0), (300.0, 1100.0)


def _s8(v: int) -> int:
    return v - 256 if v & 0x80 else v


def _u16(lo: int, hi: int) -> int:
    return hi << 8 | lo


def _s16(lo: int, hi: int) -> int:
    v = _u16(lo, hi)
    return v - 65536 if v & 0x8000 else v


@dataclass(frozen=True, slots=True)
class Calibration:
    t1: int
    t2: int
    t3: int
    p1: int
    p2: int
    p3: int
    p4: int
    p5: int
    p6: int
    p7: int
    p8: int
    p9: int
    p10: int
    h1: int
    h2: int
    h3: int
    h4: int
    h5: int
    h6: int
    h7: int
    g1: int = 0
    g2: int = 0
    g3: int = 0
    res_heat_range: int = 0
    res_heat_val: int = 0
    range_switching_error: int = 0

    @classmethod
    def from_registers(
        cls, c1: bytes, c2: bytes, heat_range: int, heat_val: int, sw_err: int
    ) -> Calibration:
        """c1 = 0x89..0xA1 (25 bytes), c2 = 0xE1..0xF0 (16 bytes), per §5.2 table 14."""
        a = lambda reg: c1[reg - 0x89]  # noqa: E731 - register -> byte of block 1
        b = lambda reg: c2[reg - 0xE1]  # noqa: E731
        return cls(
            t1=_u16(b(0xE9), b(0xEA)),
            t2=_s16(a(0x8A), a(0x8B)),
            t3=_s8(a(0x8C)),
            p1=_u16(a(0x8E), a(0x8F)),
            p2=_s16(a(0x90), a(0x91)),
            p3=_s8(a(0x92)),
            p4=_s16(a(0x94), a(0x95)),
            p5=_s16(a(0x96), a(0x97)),
            p6=_s8(a(0x99)),
            p7=_s8(a(0x98)),
            p8=_s16(a(0x9C), a(0x9D)),
            p9=_s16(a(0x9E), a(0x9F)),
            p10=a(0xA0),
            h1=b(0xE3) << 4 | b(0xE2) & 0x0F,
            h2=b(0xE1) << 4 | b(0xE2) >> 4,
            h3=_s8(b(0xE4)),
            h4=_s8(b(0xE5)),
            h5=_s8(b(0xE6)),
            h6=b(0xE7),
            h7=_s8(b(0xE8)),
            g1=_s8(b(0xED)),
            g2=_s16(b(0xEB), b(0xEC)),
            g3=_s8(b(0xEE)),
            res_heat_range=heat_range >> 4 & 0x03,
            res_heat_val=_s8(heat_val),
            range_switching_error=_s8(sw_err & 0xF0) // 16,
        )


def temperature(c: Calibration, adc: int) -> tuple[float, float]:
    """§3.3.1 -> (°C, t_fine)."""
    var1 = (adc / 16384.0 - c.t1 / 1024.0) * c.t2
    var2 = (adc / 131072.0 - c.t1 / 8192.0) ** 2 * (c.t3 * 16.0)
    t_fine = var1 + var2
    return t_fine / 5120.0, t_fine


def pressure(c: Calibration, adc: int, t_fine: float) -> float:
    """§3.3.2 -> Pa."""
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * (c.p6 / 131072.0)
    var2 = var2 + var1 * c.p5 * 2.0
    var2 = var2 / 4.0 + c.p4 * 65536.0
    var1 = (c.p3 * var1 * var1 / 16384.0 + c.p2 * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * c.p1
    if var1 == 0:
        raise InvalidReading("BME680: pressure compensation divides by zero (calibration?)")
    p = 1048576.0 - adc
    p = (p - var2 / 4096.0) * 6250.0 / var1
    var1 = c.p9 * p * p / 2147483648.0
    var2 = p * (c.p8 / 32768.0)
    var3 = (p / 256.0) ** 3 * (c.p10 / 131072.0)
    return p + (var1 + var2 + var3 + c.p7 * 128.0) / 16.0


def humidity(c: Calibration, adc: int, celsius: float) -> float:
    """§3.3.3 -> %RH."""
    var1 = adc - (c.h1 * 16.0 + c.h3 / 2.0 * celsius)
    var2 = var1 * (
        c.h2 / 262144.0 * (1.0 + c.h4 / 16384.0 * celsius + c.h5 / 1048576.0 * celsius * celsius)
    )
    var3, var4 = c.h6 / 16384.0, c.h7 / 2097152.0
    return var2 + (var3 + var4 * celsius) * var2 * var2


def gas_resistance_bme680(c: Calibration, adc: int, gas_range: int) -> float:
    """§3.3.5, the BME680's range tables -> ohms."""
    var1 = (1340 + 5 * c.range_switching_error) * LOOKUP1[gas_range] >> 16
    var2 = (adc << 15) - 16777216 + var1
    return ((LOOKUP2[gas_range] * var1 >> 9) + (var2 >> 1)) / var2


def gas_resistance_bme688(adc: int, gas_range: int) -> float:
    """The BME688's formula -> ohms."""
    return 1_000_000.0 * (262144 >> gas_range) / (4096 + (adc - 512) * 3)


def heater_code(c: Calibration, target_c: float, ambient_c: float) -> int:
    """§3.3.5: res_heat_0 for a heater temperature (°C) at an ambient temperature."""
    var1 = c.g1 / 16.0 + 49.0
    var2 = c.g2 / 32768.0 * 0.0005 + 0.00235
    var3 = c.g3 / 1024.0
    var4 = var1 * (1.0 + var2 * target_c)
    var5 = var4 + var3 * ambient_c
    code = int(
        3.4
        * (var5 * (4.0 / (4.0 + c.res_heat_range)) * (1.0 / (1.0 + c.res_heat_val * 0.002)) - 25)
    )
    return max(0, min(255, code))


def wait_code(ms: int) -> int:
    """gas_wait_0: 6 bits of milliseconds times 1, 4, 16 or 64 (§5.3.3.3): 100 ms -> 0x59."""
    if ms >= 0xFC0:
        return 0xFF
    factor = 0
    while ms > 0x3F:
        ms //= 4
        factor += 1
    return ms + factor * 64


class BME680(Driver):
    quantities: tuple[tuple[str, str], ...] = (
        ("temperature", "°C"),
        ("humidity", "%"),
        ("pressure", "hPa"),
        ("gas_resistance", "Ω"),
    )

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x77,
        *,
        oversampling_temperature: int = 2,
        oversampling_pressure: int = 4,
        oversampling_humidity: int = 1,
        iir_filter: int = 3,
        gas: bool = True,
        heater_temperature: int = 320,
        heater_duration: int = 150,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for name, value in (
            ("oversampling_temperature", oversampling_temperature),
            ("oversampling_pressure", oversampling_pressure),
            ("oversampling_humidity", oversampling_humidity),
        ):
            if value not in OVERSAMPLING:
                raise ValueError(f"BME680: {name} must be one of {sorted(OVERSAMPLING)}")
        if iir_filter not in FILTER:
            raise ValueError(f"BME680: iir_filter must be one of {sorted(FILTER)}")
        if not 200 <= heater_temperature <= 400:
            raise ValueError("BME680: heater_temperature must be 200..400 °C")
        if not 1 <= heater_duration <= 4032:
            raise ValueError("BME680: heater_duration must be 1..4032 ms")
        self.bus, self.address = bus, check_address(address, ADDRESSES, "BME680")
        self.osrs = (
            OVERSAMPLING[oversampling_temperature],
            OVERSAMPLING[oversampling_pressure],
            OVERSAMPLING[oversampling_humidity],
        )
        self.cycles = oversampling_temperature + oversampling_pressure + oversampling_humidity
        self.filter, self.gas = FILTER[iir_filter], gas
        self.heater_temperature, self.heater_duration = heater_temperature, heater_duration
        self.sleep = sleep
        self.calibration: Calibration | None = None
        self.variant = 0
        self.ambient = 25.0
        if not gas:
            self.quantities = self.quantities[:3]

    def _read(self, register: int, length: int) -> bytes:
        return bytes(self.bus.read_i2c_block_data(self.address, register, length))

    def _write(self, register: int, value: int) -> None:
        self.bus.write_byte_data(self.address, register, value)

    def open(self) -> None:
        with missing_as_not_found(self.address, "BME680"):
            chip = self.bus.read_byte_data(self.address, REG_CHIP_ID)
        if chip != CHIP_ID:
            raise DeviceNotFound(
                f"BME680: chip id 0x{chip:02X} at 0x{self.address:02X}, expected "
                f"0x61 (a BME280 reads 0x60)"
            )
        self._write(REG_RESET, 0xB6)
        self.sleep(0.010)
        self.variant = self.bus.read_byte_data(self.address, REG_VARIANT)
        self.calibration = Calibration.from_registers(
            self._read(0x89, 25),
            self._read(0xE1, 16),
            self.bus.read_byte_data(self.address, 0x02),
            self.bus.read_byte_data(self.address, 0x00),
            self.bus.read_byte_data(self.address, 0x04),
        )
        self._write(REG_CTRL_HUM, self.osrs[2])
        self._write(REG_CONFIG, self.filter << 2)
        self._write(REG_GAS_WAIT_0, wait_code(self.heater_duration))
        self._write(REG_CTRL_GAS_1, (0x20 if self.variant else 0x10) if self.gas else 0x00)

    def measurement_time(self) -> float:
        """TPH conversion (1.963 ms per sample, plus the fixed overheads of Bosch's API) and heating."""
        tph = (self.cycles * 1963 + 477 * 4 + 477 * 5 + 1000) / 1e6
        return tph + (self.heater_duration / 1000 if self.gas else 0.0)

    def read(self) -> list[Reading]:
        if self.calibration is None:
            self.open()
        c = self.calibration
        assert c is not None
        if self.gas:
            self._write(REG_RES_HEAT_0, heater_code(c, self.heater_temperature, self.ambient))
        self._write(REG_CTRL_MEAS, self.osrs[0] << 5 | self.osrs[1] << 2 | 0b01)
        self.sleep(self.measurement_time())
        for _ in range(10):
            status = self.bus.read_byte_data(self.address, REG_STATUS)
            if status & NEW_DATA and not status & MEASURING:
                break
            self.sleep(0.010)
        else:
            raise DriverError("BME680: no new data after the measurement time")
        data = self._read(REG_DATA, 8)
        p_adc = data[0] << 12 | data[1] << 4 | data[2] >> 4
        t_adc = data[3] << 12 | data[4] << 4 | data[5] >> 4
        h_adc = data[6] << 8 | data[7]
        celsius, t_fine = temperature(c, t_adc)
        hpa = pressure(c, p_adc, t_fine) / 100
        rh = humidity(c, h_adc, celsius)
        if not T_RANGE_C[0] <= celsius <= T_RANGE_C[1]:
            raise InvalidReading(f"BME680: temperature {celsius:.2f} °C outside -40..85 °C")
        if not P_RANGE_HPA[0] <= hpa <= P_RANGE_HPA[1]:
            raise InvalidReading(f"BME680: pressure {hpa:.2f} hPa outside 300..1100 hPa")
        if not 0 <= rh <= 100:
            raise InvalidReading(f"BME680: humidity {rh:.2f} % outside 0..100 %")
        self.ambient = celsius
        readings = [
            Reading("temperature", celsius, "°C"),
            Reading("humidity", rh, "%"),
            Reading("pressure", hpa, "hPa"),
        ]
        if self.gas:
            gas = self._read(0x2C if self.variant else 0x2A, 2)
            adc, flags = gas[0] << 2 | gas[1] >> 6, gas[1]
            if flags & GAS_VALID and flags & HEAT_STAB:
                ohms = (
                    gas_resistance_bme688(adc, flags & 0x0F)
                    if self.variant
                    else gas_resistance_bme680(c, adc, flags & 0x0F)
                )
                readings.append(Reading("gas_resistance", ohms, "Ω"))
        return readings
