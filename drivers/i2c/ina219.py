"""TI INA219 current / power monitor (datasheet SBOS448G).

How it works: from `shunt_ohms` and `max_current` the driver computes Current_LSB = I_max/2^15,
the calibration register Cal = trunc(0.04096 / (Current_LSB × R_shunt)) (§8.5.1 eq. 1-2; bit 0 of
the register is void, so the LSB actually used is recomputed from the even Cal), Power_LSB =
20 × Current_LSB (eq. 3), and the smallest PGA whose shunt range covers I_max × R_shunt. Each
`read()` writes the calibration and a triggered "shunt and bus" config (§8.6.2.1), waits both
conversion times, polls CNVR in the bus voltage register (§8.6.3.2), rejects OVF (math overflow),
then reads shunt voltage (10 µV LSB), bus voltage (bits 15:3, 4 mV LSB), current and power.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

ADDRESSES = tuple(range(0x40, 0x50))  # A0/A1 strapping (§8.5.5.1 table 1)
REG_CONFIG, REG_SHUNT, REG_BUS, REG_POWER, REG_CURRENT, REG_CALIBRATION = range(6)
CONFIG_RESET = 0x399F
MODE_SHUNT_BUS_TRIGGERED = 0b011
BUS_CNVR, BUS_OVF = 0x0002, 0x0001
SHUNT_LSB_V, BUS_LSB_V = 10e-6, 4e-3
#: shunt full-scale volts -> PG[1:0] (§8.6.2.1 table 4)
PGA = {0.04: 0b00, 0.08: 0b01, 0.16: 0b10, 0.32: 0b11}
BUS_RANGE = {16: 0, 32: 1}  # BRNG
#: samples averaged -> (ADC field, conversion time s) (§8.6.2.1 table 5); 1 = 12-bit
ADC = {
    1: (0b0011, 0.000532),
    2: (0b1001, 0.00106),
    4: (0b1010, 0.00213),
    8: (0b1011, 0.00426),
    16: (0b1100, 0.00851),
    32: (0b1101, 0.01702),
    64: (0b1110, 0.03405),
    128: (0b1111, 0.0681),
}
MAX_POLLS = 10


@dataclass(frozen=True, slots=True)
class Calibration:
    register: int  # value of the calibration register (even)
    current_lsb: float  # A per bit, as implied by `register`
    power_lsb: float  # W per bit
    pga: float  # shunt full-scale volts


def calibrate(shunt_ohms: float, max_current: float) -> Calibration:
    """§8.5.1 equations 1-3, and the PGA range that fits max_current × shunt_ohms."""
    if shunt_ohms <= 0 or max_current <= 0:
        raise ValueError("INA219: shunt_ohms and max_current must be positive")
    shunt_max = max_current * shunt_ohms
    pga = next((v for v in sorted(PGA) if v >= shunt_max - 1e-12), None)
    if pga is None:
        raise ValueError(f"INA219: {shunt_max:.3f} V across the shunt exceeds the 0.32 V range")
    cal = int(0.04096 / (max_current / 32768 * shunt_ohms)) & 0xFFFE
    if not 2 <= cal <= 0xFFFE:
        raise ValueError(f"INA219: calibration {cal} out of range; choose another max_current")
    current_lsb = 0.04096 / (cal * shunt_ohms)
    return Calibration(cal, current_lsb, 20 * current_lsb, pga)


def _signed(v: int) -> int:
    return v - 0x10000 if v & 0x8000 else v


def decode_bus(raw: int) -> float:
    """Bus voltage register -> volts; OVF raises (§8.6.3.2)."""
    if raw & BUS_OVF:
        raise InvalidReading("INA219: math overflow (OVF), current/power out of range")
    return (raw >> 3) * BUS_LSB_V


class INA219(Driver):
    quantities = (("voltage", "V"), ("current", "A"), ("power", "W"), ("shunt_voltage", "V"))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x40,
        *,
        shunt_ohms: float = 0.1,
        max_current: float = 3.2,
        bus_voltage_range: int = 32,
        samples: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if bus_voltage_range not in BUS_RANGE:
            raise ValueError("INA219: bus_voltage_range must be 16 or 32")
        if samples not in ADC:
            raise ValueError(f"INA219: samples must be one of {sorted(ADC)}")
        self.bus = bus
        self.address = check_address(address, ADDRESSES, "INA219")
        self.calibration = calibrate(shunt_ohms, max_current)
        self.brng, self.samples, self.sleep = bus_voltage_range, samples, sleep

    def config_word(self) -> int:
        adc = ADC[self.samples][0]
        return (
            BUS_RANGE[self.brng] << 13
            | PGA[self.calibration.pga] << 11
            | adc << 7
            | adc << 3
            | MODE_SHUNT_BUS_TRIGGERED
        )

    def _read_reg(self, reg: int) -> int:
        return int.from_bytes(bytes(self.bus.read_i2c_block_data(self.address, reg, 2)), "big")

    def _write_reg(self, reg: int, value: int) -> None:
        self.bus.write_i2c_block_data(self.address, reg, [value >> 8, value & 0xFF])

    def open(self) -> None:
        with missing_as_not_found(self.address, "INA219"):
            self._read_reg(REG_CONFIG)

    def _wait_conversion(self) -> int:
        self.sleep(2 * ADC[self.samples][1])  # shunt, then bus
        for _ in range(MAX_POLLS):
            raw = self._read_reg(REG_BUS)
            if raw & BUS_CNVR:
                return raw
            self.sleep(ADC[self.samples][1] / 4)
        raise InvalidReading("INA219: conversion did not complete (CNVR never set)")

    def read(self) -> list[Reading]:
        cal = self.calibration
        self._write_reg(REG_CALIBRATION, cal.register)  # lost on a brown-out; rewrite each time
        self._write_reg(REG_CONFIG, self.config_word())
        volts = decode_bus(self._wait_conversion())
        shunt = _signed(self._read_reg(REG_SHUNT))
        if abs(shunt) * SHUNT_LSB_V >= cal.pga:
            raise InvalidReading(f"INA219: shunt voltage at the ±{cal.pga} V PGA limit")
        current = _signed(self._read_reg(REG_CURRENT)) * cal.current_lsb
        power = self._read_reg(REG_POWER) * cal.power_lsb  # reading POWER clears CNVR
        return [
            Reading("voltage", volts, "V"),
            Reading("current", current, "A"),
            Reading("power", power, "W"),
            Reading("shunt_voltage", shunt * SHUNT_LSB_V, "V"),
        ]
