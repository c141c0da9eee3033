"""ams TSL2591 high-dynamic-range light-to-digital converter (datasheet ams TSL2591 v3-00).

Address 0x29. Every access starts with a command byte: CMD (bit 7) and the normal transaction
(bits 6:5 = 01) with the register in bits 4:0, i.e. 0xA0 | register. Registers: ENABLE 0x00
(PON bit 0, AEN bit 1), CONFIG 0x01 (SRESET bit 7, AGAIN bits 5:4: low 1×, medium 25×, high 428×,
maximum 9876× typical; ATIME bits 2:0: 100..600 ms), ID 0x12 (0x50), STATUS 0x13 (AVALID bit 0),
C0DATA 0x14/0x15 (full spectrum), C1DATA 0x16/0x17 (infrared). Full scale is 36863 counts at
100 ms and 65535 at longer times; a channel there is saturated: with `gain = "auto"` the driver
steps the gain down, otherwise the read fails.

Lux: the datasheet gives no lux equation. The one used here is ams's device-factor form,
lux = (C0 - C1) × (1 - C1/C0) / CPL with CPL = ATIME_ms × AGAIN / 408 (the device factor 408 of
ams's reference code, also what the widely used drivers apply); `lux_factor` rescales it for a
window or diffuser. C1 ≥ C0 (mostly infrared) reports 0 lx.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import DeviceNotFound, Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

ADDRESSES = (0x29,)
COMMAND = 0xA0
REG_ENABLE, REG_CONFIG, REG_ID, REG_STATUS, REG_C0 = 0x00, 0x01, 0x12, 0x13, 0x14
DEVICE_ID = 0x50
#: gain name -> (AGAIN bits, typical multiplier)
GAINS = {"low": (0b00, 1.0), "medium": (0b01, 25.0), "high": (0b10, 428.0), "max": (0b11, 9876.0)}
LADDER = ("max", "high", "medium", "low")
TIMES_MS = (100, 200, 300, 400, 500, 600)
DEVICE_FACTOR = 408.0


def full_scale(atime_ms: int) -> int:
    return 36863 if atime_ms == 100 else 65535


def lux(ch0: int, ch1: int, gain: float, atime_ms: int, factor: float = 1.0) -> float:
    if ch0 <= 0 or ch1 >= ch0:
        return 0.0
    cpl = atime_ms * gain / DEVICE_FACTOR
    return (ch0 - ch1) * (1 - ch1 / ch0) / cpl * factor


class TSL2591(Driver):
    quantities = (("illuminance", "lx"), ("infrared", ""), ("full_spectrum", ""))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x29,
        *,
        gain: str = "auto",
        integration_time: int = 200,
        lux_factor: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if gain != "auto" and gain not in GAINS:
            raise ValueError(f"TSL2591: gain must be 'auto' or one of {list(GAINS)}")
        if integration_time not in TIMES_MS:
            raise ValueError(f"TSL2591: integration_time must be one of {TIMES_MS} ms")
        self.bus, self.address = bus, check_address(address, ADDRESSES, "TSL2591")
        self.auto = gain == "auto"
        self.gain = "medium" if self.auto else gain
        self.atime, self.factor, self.sleep = integration_time, lux_factor, sleep

    def _write(self, register: int, value: int) -> None:
        self.bus.write_byte_data(self.address, COMMAND | register, value)

    def _byte(self, register: int) -> int:
        return self.bus.read_byte_data(self.address, COMMAND | register)

    def open(self) -> None:
        with missing_as_not_found(self.address, "TSL2591"):
            ident = self._byte(REG_ID)
        if ident != DEVICE_ID:
            raise DeviceNotFound(
                f"TSL2591: ID 0x{ident:02X} at 0x{self.address:02X}, expected 0x50"
            )
        self._write(REG_ENABLE, 0x03)  # PON | AEN

    def _measure(self) -> tuple[int, int]:
        self._write(REG_CONFIG, GAINS[self.gain][0] << 4 | TIMES_MS.index(self.atime))
        self.sleep(self.atime / 1000 * 2 + 0.005)  # the running cycle, then one at the setting
        for _ in range(10):
            if self._byte(REG_STATUS) & 0x01:
                break
            self.sleep(0.01)
        else:
            raise InvalidReading("TSL2591: AVALID never set")
        data = bytes(self.bus.read_i2c_block_data(self.address, COMMAND | REG_C0, 4))
        return int.from_bytes(data[0:2], "little"), int.from_bytes(data[2:4], "little")

    def read(self) -> list[Reading]:
        limit = full_scale(self.atime)
        ch0, ch1 = self._measure()
        for _ in range(len(LADDER) if self.auto else 0):
            step = LADDER.index(self.gain)
            if max(ch0, ch1) >= limit and step < len(LADDER) - 1:
                self.gain = LADDER[step + 1]  # saturated: less gain
            elif ch0 < 100 and step > 0:
                self.gain = LADDER[step - 1]  # dim: more gain (the gains are >= 17x
            else:  # apart, so this cannot oscillate)
                break
            ch0, ch1 = self._measure()
        if max(ch0, ch1) >= limit:
            raise InvalidReading(
                f"TSL2591: saturated ({ch0}/{ch1}) at gain {self.gain}, {self.atime} ms"
            )
        value = lux(ch0, ch1, GAINS[self.gain][1], self.atime, self.factor)
        return [
            Reading("illuminance", value, "lx"),
            Reading("infrared", ch1),
            Reading("full_spectrum", ch0),
        ]
