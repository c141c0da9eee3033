"""TI ADS1115 16-bit ADC (datasheet SBAS444D), single-shot conversions.

Registers are 16-bit big-endian behind a pointer (§8.5.1): conversion 0x00, config 0x01. For each
configured channel the driver writes the config register with OS=1 (start a single conversion),
MUX (input pair), PGA (full-scale range), MODE=1 (single-shot), DR (data rate) and the comparator
disabled (§8.6.3 table 8), waits one conversion period (1/DR, +10 % oscillator tolerance), polls
OS until it reads 1 ("not converting"), then reads the two's-complement conversion register.
volts = code × FSR / 32768. A code at either end of the range means the input is at or beyond
full scale (the ADC saturates), so it raises instead of reporting a clamped voltage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from drivers.base import Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

ADDRESSES = (0x48, 0x49, 0x4A, 0x4B)  # ADDR to GND / VDD / SDA / SCL (§8.5.1.1 table 4)
REG_CONVERSION, REG_CONFIG = 0x00, 0x01
CONFIG_RESET = 0x8583  # §8.6.3
OS = 1 << 15
MODE_SINGLE = 1 << 8
COMP_DISABLE = 0b11  # COMP_QUE
#: channel name -> MUX[2:0] (§8.6.3): differential pairs and single-ended inputs against GND
MUX = {
    "0-1": 0b000,
    "0-3": 0b001,
    "1-3": 0b010,
    "2-3": 0b011,
    "0": 0b100,
    "1": 0b101,
    "2": 0b110,
    "3": 0b111,
}
#: full-scale range in volts -> PGA[2:0]
PGA = {6.144: 0b000, 4.096: 0b001, 2.048: 0b010, 1.024: 0b011, 0.512: 0b100, 0.256: 0b101}
#: samples per second -> DR[2:0]
DATA_RATE = {
    8: 0b000,
    16: 0b001,
    32: 0b010,
    64: 0b011,
    128: 0b100,
    250: 0b101,
    475: 0b110,
    860: 0b111,
}
CLOCK_TOLERANCE = 1.1  # internal oscillator ±10 % (§7.5)
MAX_POLLS = 20


def config_word(channel: str, fsr: float, data_rate: int) -> int:
    """The config register value that starts one single-shot conversion."""
    return (
        OS
        | MUX[channel] << 12
        | PGA[fsr] << 9
        | MODE_SINGLE
        | DATA_RATE[data_rate] << 5
        | COMP_DISABLE
    )


def to_volts(code: int, fsr: float) -> float:
    """Conversion register -> volts (§8.3.3); full-scale codes raise."""
    if code & 0x8000:
        code -= 0x10000
    if code in (0x7FFF, -0x8000):
        raise InvalidReading(f"ADS1115: input at or beyond the ±{fsr} V full-scale range")
    return code * fsr / 32768


def quantity(channel: str) -> str:
    return "voltage_" + "_".join("a" + c for c in channel.split("-"))


def _check(value: object, table: dict, what: str) -> None:
    if value not in table:
        raise ValueError(f"ADS1115: {what} must be one of {sorted(table)}, got {value!r}")


class ADS1115(Driver):
    """Channels are "0".."3" (single-ended) or "0-1", "0-3", "1-3", "2-3" (differential)."""

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x48,
        *,
        channels: Sequence[str] = ("0", "1", "2", "3"),
        gain: float = 4.096,
        data_rate: int = 128,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not channels:
            raise ValueError("ADS1115: at least one channel")
        for ch in channels:
            _check(str(ch), MUX, "channel")
        _check(gain, PGA, "gain (full-scale volts)")
        _check(data_rate, DATA_RATE, "data_rate")
        self.bus = bus
        self.address = check_address(address, ADDRESSES, "ADS1115")
        self.channels = tuple(str(c) for c in channels)
        self.gain, self.data_rate, self.sleep = gain, data_rate, sleep
        self.quantities = tuple((quantity(c), "V") for c in self.channels)

    def _read_reg(self, reg: int) -> int:
        return int.from_bytes(bytes(self.bus.read_i2c_block_data(self.address, reg, 2)), "big")

    def _write_reg(self, reg: int, value: int) -> None:
        self.bus.write_i2c_block_data(self.address, reg, [value >> 8, value & 0xFF])

    def open(self) -> None:
        with missing_as_not_found(self.address, "ADS1115"):
            self._read_reg(REG_CONFIG)

    def convert(self, channel: str) -> float:
        """One single-shot conversion of `channel`, in volts."""
        self._write_reg(REG_CONFIG, config_word(channel, self.gain, self.data_rate))
        self.sleep(CLOCK_TOLERANCE / self.data_rate)
        for _ in range(MAX_POLLS):
            if self._read_reg(REG_CONFIG) & OS:  # 1 = not converting (§8.6.3)
                return to_volts(self._read_reg(REG_CONVERSION), self.gain)
            self.sleep(0.1 / self.data_rate)
        raise InvalidReading(f"ADS1115: conversion on {channel} did not finish")

    def read(self) -> list[Reading]:
        return [Reading(quantity(c), self.convert(c), "V") for c in self.channels]
