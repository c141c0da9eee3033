"""Bosch BMP388 / BMP390 barometric pressure and temperature sensors (datasheets BST-BMP388-DS001,
BST-BMP390-DS002), in forced mode.

Registers (§4.3): CHIP_ID 0x00 (0x50 BMP388, 0x60 BMP390), ERR_REG 0x02 (fatal_err, cmd_err,
conf_err), STATUS 0x03 (drdy_press bit 5, drdy_temp bit 6), DATA 0x04..0x09 (pressure then
temperature, 24 bits each, little-endian), PWR_CTRL 0x1B (press_en, temp_en, mode bits 5:4 = 01
forced), OSR 0x1C (osr_p 2:0, osr_t 5:3), CONFIG 0x1F (IIR coefficient 3:1), CMD 0x7E (0xB6 soft
reset), calibration NVM_PAR_T1.. 0x31..0x45 (21 bytes, §3.11.1 table 23). Conversion time (§3.9.2):
234 µs + 392 µs + 2^osr_p × 2020 µs + 163 µs + 2^osr_t × 2020 µs.

Compensation: the datasheet's floating-point formulas (§9.2, §9.3), the quantised parameters
of §9.1 (par_t1 = T1 / 2^-8 ... par_p11 = P11 / 2^65). Checked against an independent published
vector (elixir-sensors/bmp3xx): 30.499314 °C, 100876.006 Pa.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import DeviceNotFound, Driver, DriverError, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

ADDRESSES = (0x76, 0x77)
CHIP_IDS = {0x50: "BMP388", 0x60: "BMP390"}
REG_CHIP_ID, REG_ERR, REG_STATUS, REG_DATA = 0x00, 0x02, 0x03, 0x04
REG_PWR_CTRL, REG_OSR, REG_CONFIG, REG_CMD, REG_CALIB = 0x1B, 0x1C, 0x1F, 0x7E, 0x31
DRDY = 0x60  # drdy_press | drdy_temp
OVERSAMPLING = {1: 0, 2: 1, 4: 2, 8: 3, 16: 4, 32: 5}
FILTER = {0: 0, 1: 1, 3: 2, 7: 3, 15: 4, 31: 5, 63: 6, 127: 7}
T_RANGE_C, P_RANGE_HPA = (-40.0, 85.0), (300.0, 1250.0)


@dataclass(frozen=True, slots=True)
class Calibration:
    """The quantised parameters of §9.1, from the 21 NVM bytes."""

    t1: float
    t2: float
    t3: float
    p1: float
    p2: float
    p3: float
    p4: float
    p5: float
    p6: float
    p7: float
    p8: float
    p9: float
    p10: float
    p11: float

    @classmethod
    def from_nvm(cls, data: bytes) -> Calibration:
        if len(data) != 21:
            raise ValueError("BMP388: calibration is 21 bytes")
        t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11 = struct.unpack(
            "<HHbhhbbHHbbhbb", data
        )
        return cls(
            t1 / 2**-8,
            t2 / 2**30,
            t3 / 2**48,
            (p1 - 2**14) / 2**20,
            (p2 - 2**14) / 2**29,
            p3 / 2**32,
            p4 / 2**37,
            p5 / 2**-3,
            p6 / 2**6,
            p7 / 2**8,
            p8 / 2**15,
            p9 / 2**48,
            p10 / 2**48,
            p11 / 2**65,
        )


def compensate(c: Calibration, up: int, ut: int) -> tuple[float, float]:
    """Raw pressure and temperature -> (°C, Pa), §9.2 and §9.3."""
    partial = ut - c.t1
    t = partial * c.t2 + partial * partial * c.t3
    out1 = c.p5 + c.p6 * t + c.p7 * t * t + c.p8 * t**3
    out2 = up * (c.p1 + c.p2 * t + c.p3 * t * t + c.p4 * t**3)
    out3 = up * up * (c.p9 + c.p10 * t) + up**3 * c.p11
    return t, out1 + out2 + out3


class BMP388(Driver):
    quantities = (("temperature", "°C"), ("pressure", "hPa"))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x77,
        *,
        oversampling_pressure: int = 8,
        oversampling_temperature: int = 1,
        iir_filter: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if (
            oversampling_pressure not in OVERSAMPLING
            or oversampling_temperature not in OVERSAMPLING
        ):
            raise ValueError(f"BMP388: oversampling must be one of {sorted(OVERSAMPLING)}")
        if iir_filter not in FILTER:
            raise ValueError(f"BMP388: iir_filter must be one of {sorted(FILTER)}")
        self.bus, self.address = bus, check_address(address, ADDRESSES, "BMP388")
        self.osr_p, self.osr_t = oversampling_pressure, oversampling_temperature
        self.filter, self.sleep = FILTER[iir_filter], sleep
        self.calibration: Calibration | None = None
        self.chip = "BMP388"

    def conversion_time(self) -> float:
        return (234 + 392 + self.osr_p * 2020 + 163 + self.osr_t * 2020) / 1e6

    def open(self) -> None:
        with missing_as_not_found(self.address, "BMP388"):
            chip = self.bus.read_byte_data(self.address, REG_CHIP_ID)
        if chip not in CHIP_IDS:
            raise DeviceNotFound(
                f"BMP388: chip id 0x{chip:02X} at 0x{self.address:02X}, expected "
                f"0x50 (BMP388) or 0x60 (BMP390)"
            )
        self.chip = CHIP_IDS[chip]
        self.bus.write_byte_data(self.address, REG_CMD, 0xB6)
        self.sleep(0.002)  # start-up after soft reset
        self.calibration = Calibration.from_nvm(
            bytes(self.bus.read_i2c_block_data(self.address, REG_CALIB, 21))
        )
        self.bus.write_byte_data(
            self.address, REG_OSR, OVERSAMPLING[self.osr_t] << 3 | OVERSAMPLING[self.osr_p]
        )
        self.bus.write_byte_data(self.address, REG_CONFIG, self.filter << 1)
        if self.bus.read_byte_data(self.address, REG_ERR) & 0x04:
            raise DriverError(f"{self.chip}: conf_err: the oversampling does not fit the data rate")

    def read(self) -> list[Reading]:
        if self.calibration is None:
            self.open()
        assert self.calibration is not None
        self.bus.write_byte_data(self.address, REG_PWR_CTRL, 0b01 << 4 | 0b11)  # forced, T and P
        self.sleep(self.conversion_time())
        for _ in range(10):
            if self.bus.read_byte_data(self.address, REG_STATUS) & DRDY == DRDY:
                break
            self.sleep(0.002)
        else:
            raise DriverError(f"{self.chip}: no data ready after the conversion time")
        if self.bus.read_byte_data(self.address, REG_ERR) & 0x01:
            raise DriverError(f"{self.chip}: fatal_err")
        data = bytes(self.bus.read_i2c_block_data(self.address, REG_DATA, 6))
        up, ut = int.from_bytes(data[0:3], "little"), int.from_bytes(data[3:6], "little")
        celsius, pascal = compensate(self.calibration, up, ut)
        if not T_RANGE_C[0] <= celsius <= T_RANGE_C[1]:
            raise InvalidReading(f"{self.chip}: temperature {celsius:.2f} °C outside -40..85 °C")
        if not P_RANGE_HPA[0] <= pascal / 100 <= P_RANGE_HPA[1]:
            raise InvalidReading(
                f"{self.chip}: pressure {pascal / 100:.2f} hPa outside 300..1250 hPa"
            )
        return [Reading("temperature", celsius, "°C"), Reading("pressure", pascal / 100, "hPa")]
