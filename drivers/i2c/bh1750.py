"""ROHM BH1750FVI ambient light sensor (datasheet BH1750FVI, rev. 2011).

One-time measurements (the chip powers down after each, p.5 "Instruction Set Architecture"):
power on, program MTreg (measurement time register, 31..254, default 69, p.11), send the one-time
mode opcode, wait the maximum measurement time scaled by MTreg/69, read two bytes (high, low).
lux = count / 1.2 × (69 / MTreg), halved again in H-resolution mode 2 (p.11). A count of 0xFFFF is
the sensor saturating, so it raises rather than reporting a clamped value.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found, read_raw, write_raw

ADDRESSES = (0x23, 0x5C)  # ADDR low / high (p.10)
POWER_DOWN, POWER_ON, RESET = 0x00, 0x01, 0x07
#: mode -> (one-time opcode, max measurement time at MTreg=69 in s, resolution divisor) (p.2, p.5)
MODES = {"high": (0x20, 0.180, 1), "high2": (0x21, 0.180, 2), "low": (0x23, 0.024, 1)}
MTREG_DEFAULT, MTREG_RANGE = 69, (31, 254)
SATURATED = 0xFFFF


def mtreg_commands(mtreg: int) -> tuple[int, int]:
    """The two 'change measurement time' opcodes: 01000_MT[7:5] and 011_MT[4:0] (p.11)."""
    return 0x40 | mtreg >> 5, 0x60 | mtreg & 0x1F


def lux(count: int, mode: str, mtreg: int = MTREG_DEFAULT) -> float:
    """Count -> lux per p.11 (the 1.2 is the datasheet's typical measurement accuracy factor)."""
    if count == SATURATED:
        raise InvalidReading("BH1750: count 0xFFFF, the sensor is saturated (lower MTreg)")
    return count / 1.2 * (MTREG_DEFAULT / mtreg) / MODES[mode][2]


class BH1750(Driver):
    quantities = (("illuminance", "lx"),)

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x23,
        *,
        mode: str = "high",
        mtreg: int = MTREG_DEFAULT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"BH1750: mode must be one of {sorted(MODES)}, got {mode!r}")
        if not MTREG_RANGE[0] <= mtreg <= MTREG_RANGE[1]:
            raise ValueError(f"BH1750: mtreg must be in {MTREG_RANGE[0]}..{MTREG_RANGE[1]}")
        self.bus = bus
        self.address = check_address(address, ADDRESSES, "BH1750")
        self.mode, self.mtreg, self.sleep = mode, mtreg, sleep

    def measurement_time_s(self) -> float:
        return MODES[self.mode][1] * self.mtreg / MTREG_DEFAULT

    def _send(self, opcode: int) -> None:
        write_raw(self.bus, self.address, [opcode])

    def open(self) -> None:
        with missing_as_not_found(self.address, "BH1750"):
            self._send(POWER_ON)
        self._send(RESET)  # clears the data register; accepted only when powered on
        self._send(POWER_DOWN)

    def read(self) -> list[Reading]:
        self._send(POWER_ON)
        for opcode in mtreg_commands(self.mtreg):
            self._send(opcode)
        self._send(MODES[self.mode][0])
        self.sleep(self.measurement_time_s())
        count = int.from_bytes(read_raw(self.bus, self.address, 2), "big")
        return [Reading("illuminance", lux(count, self.mode, self.mtreg), "lx")]
