"""Bosch BMP180 barometric pressure and temperature sensor (datasheet BST-BMP180-DS000, rev. 09).

Register map (§5): chip id 0xD0 (reads 0x55), soft reset 0xE0 (write 0xB6), control 0xF4 (write
0x2E to measure temperature, 0x34 | oss << 6 to measure pressure; bit 5 `Sco` stays 1 until the
conversion is done), result 0xF6..0xF8 (MSB, LSB, XLSB). Eleven 16-bit calibration words at
0xAA..0xBF, big-endian (§3.4, table 5); the datasheet says a word of 0x0000 or 0xFFFF means the
EEPROM was not read correctly. Conversion times (§3.3.1, table 8): temperature 4.5 ms, pressure
4.5 / 7.5 / 13.5 / 25.5 ms for oversampling 0..3.

`compensate` is the datasheet's integer algorithm (§3.5, figure 4) step by step; its divisions
by powers of two are arithmetic shifts (floor), which is what reproduces the datasheet's worked
example (UT 27898, UP 23843, oss 0 -> 15.0 °C, 69964 Pa).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import DeviceNotFound, Driver, DriverError, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

ADDRESSES = (0x77,)
REG_CHIP_ID, CHIP_ID = 0xD0, 0x55
REG_RESET, RESET = 0xE0, 0xB6
REG_CTRL, REG_OUT, REG_CALIB = 0xF4, 0xF6, 0xAA
CMD_TEMPERATURE, CMD_PRESSURE = 0x2E, 0x34
SCO = 0x20  # start of conversion: 1 while converting
T_WAIT_S = 0.0045
P_WAIT_S = (0.0045, 0.0075, 0.0135, 0.0255)  # table 8, max, by oversampling
RESET_WAIT_S = 0.010  # start-up time after reset (table 1)
#: (name, signed) of the calibration words in EEPROM order (table 5)
CALIB_WORDS = (
    ("ac1", True),
    ("ac2", True),
    ("ac3", True),
    ("ac4", False),
    ("ac5", False),
    ("ac6", False),
    ("b1", True),
    ("b2", True),
    ("mb", True),
    ("mc", True),
    ("md", True),
)
P_RANGE_PA = (30_000, 110_000)  # operating range 300..1100 hPa (table 1)
T_RANGE_C = (-40.0, 85.0)


@dataclass(frozen=True, slots=True)
class Calibration:
    ac1: int
    ac2: int
    ac3: int
    ac4: int
    ac5: int
    ac6: int
    b1: int
    b2: int
    mb: int
    mc: int
    md: int

    @classmethod
    def from_eeprom(cls, data: bytes) -> Calibration:
        if len(data) != 22:
            raise ValueError("BMP180: calibration is 22 bytes")
        words = {}
        for i, (name, signed) in enumerate(CALIB_WORDS):
            raw = data[2 * i : 2 * i + 2]
            if raw in (b"\x00\x00", b"\xff\xff"):
                raise DriverError(
                    f"BMP180: calibration word {name} reads 0x{raw.hex().upper()} "
                    f"(§3.4: the EEPROM was not read correctly)"
                )
            words[name] = int.from_bytes(raw, "big", signed=signed)
        return cls(**words)


def compensate(cal: Calibration, ut: int, up: int, oss: int) -> tuple[float, int]:
    """Uncompensated temperature and pressure -> (°C, Pa), figure 4 of §3.5."""
    x1 = (ut - cal.ac6) * cal.ac5 >> 15
    x2 = (cal.mc << 11) // (x1 + cal.md)
    b5 = x1 + x2
    temperature = ((b5 + 8) >> 4) / 10
    b6 = b5 - 4000
    x1 = cal.b2 * (b6 * b6 >> 12) >> 11
    x2 = cal.ac2 * b6 >> 11
    x3 = x1 + x2
    b3 = (((cal.ac1 * 4 + x3) << oss) + 2) >> 2
    x1 = cal.ac3 * b6 >> 13
    x2 = cal.b1 * (b6 * b6 >> 12) >> 16
    x3 = (x1 + x2 + 2) >> 2
    b4 = cal.ac4 * ((x3 + 32768) & 0xFFFFFFFF) >> 15  # unsigned long in the datasheet
    b7 = ((up - b3) & 0xFFFFFFFF) * (50000 >> oss)
    if b4 == 0:
        raise InvalidReading("BMP180: B4 is 0 (calibration or raw values are not a measurement)")
    p = (b7 * 2) // b4 if b7 < 0x80000000 else (b7 // b4) * 2
    x1 = (p >> 8) * (p >> 8)
    x1 = x1 * 3038 >> 16
    x2 = (-7357 * p) >> 16
    pressure = p + ((x1 + x2 + 3791) >> 4)
    return temperature, pressure


def check_ranges(temperature: float, pressure: int) -> None:
    if not T_RANGE_C[0] <= temperature <= T_RANGE_C[1]:
        raise InvalidReading(f"BMP180: temperature {temperature:.1f} °C outside -40..85 °C")
    if not P_RANGE_PA[0] <= pressure <= P_RANGE_PA[1]:
        raise InvalidReading(f"BMP180: pressure {pressure / 100:.2f} hPa outside 300..1100 hPa")


class BMP180(Driver):
    quantities = (("temperature", "°C"), ("pressure", "hPa"))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x77,
        *,
        oversampling: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if oversampling not in (0, 1, 2, 3):
            raise ValueError("BMP180: oversampling must be 0, 1, 2 or 3")
        self.bus, self.address = bus, check_address(address, ADDRESSES, "BMP180")
        self.oss, self.sleep = oversampling, sleep
        self.calibration: Calibration | None = None

    def open(self) -> None:
        with missing_as_not_found(self.address, "BMP180"):
            chip_id = self.bus.read_byte_data(self.address, REG_CHIP_ID)
        if chip_id != CHIP_ID:
            raise DeviceNotFound(
                f"BMP180: chip id 0x{chip_id:02X} at 0x{self.address:02X}, "
                f"expected 0x{CHIP_ID:02X} (a BMP280/BME280 reads 0x58/0x60)"
            )
        self.bus.write_byte_data(self.address, REG_RESET, RESET)
        self.sleep(RESET_WAIT_S)
        self.calibration = Calibration.from_eeprom(
            bytes(self.bus.read_i2c_block_data(self.address, REG_CALIB, 22))
        )

    def _convert(self, command: int, wait: float, length: int) -> bytes:
        self.bus.write_byte_data(self.address, REG_CTRL, command)
        self.sleep(wait)
        if self.bus.read_byte_data(self.address, REG_CTRL) & SCO:
            raise DriverError("BMP180: conversion still running after its maximum time")
        return bytes(self.bus.read_i2c_block_data(self.address, REG_OUT, length))

    def read(self) -> list[Reading]:
        if self.calibration is None:
            self.open()
        assert self.calibration is not None
        ut = int.from_bytes(self._convert(CMD_TEMPERATURE, T_WAIT_S, 2), "big")
        raw = self._convert(CMD_PRESSURE | self.oss << 6, P_WAIT_S[self.oss], 3)
        up = int.from_bytes(raw, "big") >> (8 - self.oss)
        temperature, pressure = compensate(self.calibration, ut, up, self.oss)
        check_ranges(temperature, pressure)
        return [
            Reading("temperature", temperature, "°C"),
            Reading("pressure", pressure / 100, "hPa"),
        ]
