"""TI INA226 current / power monitor with an external shunt (datasheet SBOS547A), and the INA260,
which has the same register set around an internal 2 mΩ shunt (datasheet SBOSA69).

How it works (INA226 §7.5): from `shunt_ohms` and `max_current` the driver picks
Current_LSB = I_max / 2^15 and writes CAL = trunc(0.00512 / (Current_LSB × R_shunt)) (§7.5.1
equation 1); the chip then computes Current = Shunt × CAL / 2048 (eq. 2) and Power = Current ×
Bus / 20000 (eq. 3), so Power_LSB = 25 × Current_LSB (eq. 4). The INA260 has no calibration
register: its current LSB is 1.25 mA and its power LSB 10 mW (SBOSA69 §7.6). Both: shunt voltage
LSB 2.5 µV (±81.92 mV full scale), bus voltage LSB 1.25 mV. Each read writes a triggered "shunt and
bus" configuration (§7.6.1: AVG bits 11:9, VBUSCT 8:6, VSHCT 5:3, MODE 2:0 = 011), waits
samples × (VBUSCT + VSHCT), and polls CVRF (bit 3) of Mask/Enable (0x06); OVF (bit 2) means the
current or power calculation overflowed and the read fails. Manufacturer ID 0x5449 ("TI") at 0xFE,
die ID 0x2260 (INA226) / 0x2270 (INA260) at 0xFF.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import DeviceNotFound, Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

ADDRESSES = tuple(range(0x40, 0x50))
REG_CONFIG, REG_SHUNT, REG_BUS, REG_POWER, REG_CURRENT, REG_CALIBRATION, REG_MASK = range(7)
REG_MANUFACTURER, REG_DIE = 0xFE, 0xFF
MANUFACTURER_ID = 0x5449
DIE_ID = {"ina226": 0x2260, "ina260": 0x2270}
CVRF, OVF = 0x0008, 0x0004
MODE_SHUNT_BUS_TRIGGERED = 0b011
SHUNT_LSB_V, BUS_LSB_V = 2.5e-6, 1.25e-3
SHUNT_FULL_SCALE = 32767
#: samples averaged -> AVG field (§7.6.1 table 6)
AVERAGES = {1: 0, 4: 1, 16: 2, 64: 3, 128: 4, 256: 5, 512: 6, 1024: 7}
#: conversion time s -> CT field (table 7/8, for both VBUSCT and VSHCT)
CONVERSION_TIMES = {
    0.000140: 0,
    0.000204: 1,
    0.000332: 2,
    0.000588: 3,
    0.001100: 4,
    0.002116: 5,
    0.004156: 6,
    0.008244: 7,
}
MAX_POLLS = 10
INA260_CURRENT_LSB, INA260_POWER_LSB = 1.25e-3, 10e-3


def calibrate(shunt_ohms: float, max_current: float) -> tuple[int, float]:
    """Equation 1 -> (CAL register, the Current_LSB that this CAL gives)."""
    if shunt_ohms <= 0 or max_current <= 0:
        raise ValueError("INA226: shunt_ohms and max_current must be positive")
    if max_current * shunt_ohms > SHUNT_FULL_SCALE * SHUNT_LSB_V:
        raise ValueError(
            f"INA226: {max_current * shunt_ohms * 1000:.1f} mV across the shunt "
            f"exceeds its ±81.92 mV range"
        )
    cal = int(0.00512 / (max_current / 32768 * shunt_ohms))
    if not 1 <= cal <= 0x7FFF:
        raise ValueError(f"INA226: calibration {cal} out of range; choose another max_current")
    return cal, 0.00512 / (cal * shunt_ohms)


def _signed(v: int) -> int:
    return v - 0x10000 if v & 0x8000 else v


class INA226(Driver):
    chip = "ina226"
    quantities = (("voltage", "V"), ("current", "A"), ("power", "W"), ("shunt_voltage", "V"))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x40,
        *,
        shunt_ohms: float = 0.1,
        max_current: float = 0.8,
        samples: int = 16,
        conversion_time: float = 0.0011,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if samples not in AVERAGES:
            raise ValueError(f"{self.chip.upper()}: samples must be one of {sorted(AVERAGES)}")
        if conversion_time not in CONVERSION_TIMES:
            raise ValueError(
                f"{self.chip.upper()}: conversion_time must be one of {sorted(CONVERSION_TIMES)} s"
            )
        self.bus, self.sleep = bus, sleep
        self.address = check_address(address, ADDRESSES, self.chip.upper())
        self.samples, self.conversion_time = samples, conversion_time
        self.cal, self.current_lsb = self._calibration(shunt_ohms, max_current)
        self.power_lsb = 25 * self.current_lsb

    def _calibration(self, shunt_ohms: float, max_current: float) -> tuple[int | None, float]:
        return calibrate(shunt_ohms, max_current)

    def config_word(self) -> int:
        ct = CONVERSION_TIMES[self.conversion_time]
        return 0x4000 | AVERAGES[self.samples] << 9 | ct << 6 | ct << 3 | MODE_SHUNT_BUS_TRIGGERED

    def _read_reg(self, reg: int) -> int:
        return int.from_bytes(bytes(self.bus.read_i2c_block_data(self.address, reg, 2)), "big")

    def _write_reg(self, reg: int, value: int) -> None:
        self.bus.write_i2c_block_data(self.address, reg, [value >> 8, value & 0xFF])

    def open(self) -> None:
        with missing_as_not_found(self.address, self.chip.upper()):
            manufacturer = self._read_reg(REG_MANUFACTURER)
        die = self._read_reg(REG_DIE)
        if manufacturer != MANUFACTURER_ID or die != DIE_ID[self.chip]:
            raise DeviceNotFound(
                f"{self.chip.upper()}: at 0x{self.address:02X} manufacturer "
                f"0x{manufacturer:04X} die 0x{die:04X}, expected 0x5449 / "
                f"0x{DIE_ID[self.chip]:04X}: another chip"
            )

    def _wait_conversion(self) -> None:
        self.sleep(self.samples * 2 * self.conversion_time)
        for _ in range(MAX_POLLS):
            mask = self._read_reg(REG_MASK)  # reading it clears CVRF
            if mask & OVF:
                raise InvalidReading(
                    f"{self.chip.upper()}: math overflow (OVF): current or power "
                    f"beyond the calibrated range"
                )
            if mask & CVRF:
                return
            self.sleep(self.conversion_time)
        raise InvalidReading(f"{self.chip.upper()}: conversion did not complete (CVRF never set)")

    def read(self) -> list[Reading]:
        if self.cal is not None:
            self._write_reg(REG_CALIBRATION, self.cal)  # lost on a brown-out: write each time
        self._write_reg(REG_CONFIG, self.config_word())
        self._wait_conversion()
        shunt = _signed(self._read_reg(REG_SHUNT))
        if abs(shunt) >= SHUNT_FULL_SCALE:
            raise InvalidReading(f"{self.chip.upper()}: shunt voltage at its ±81.92 mV limit")
        volts = self._read_reg(REG_BUS) * BUS_LSB_V
        current = _signed(self._read_reg(REG_CURRENT)) * self.current_lsb
        power = self._read_reg(REG_POWER) * self.power_lsb
        return [
            Reading("voltage", volts, "V"),
            Reading("current", current, "A"),
            Reading("power", power, "W"),
            Reading("shunt_voltage", shunt * SHUNT_LSB_V, "V"),
        ]


class INA260(INA226):
    """The INA226's registers around an internal 2 mΩ shunt: fixed LSBs, no calibration."""

    chip = "ina260"

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x40,
        *,
        samples: int = 16,
        conversion_time: float = 0.0011,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            bus,
            address,
            shunt_ohms=0.002,
            max_current=15.0,
            samples=samples,
            conversion_time=conversion_time,
            sleep=sleep,
        )
        self.power_lsb = INA260_POWER_LSB

    def _calibration(self, shunt_ohms: float, max_current: float) -> tuple[int | None, float]:
        return None, INA260_CURRENT_LSB
