"""ST VL53L0X time-of-flight distance sensor (datasheet DS11555), single-shot ranging.

How this works: 8-bit registers with auto-increment. The datasheet gives reference registers to
check the part (§"reference registers": IDENTIFICATION_MODEL_ID 0xC0 = 0xEE, 0xC1 = 0xAA,
IDENTIFICATION_REVISION_ID 0xC2 = 0x10) and the ranging flow of ST's API (UM2039 §2.4, single
ranging: start, wait for the result, read it, clear the interrupt). The registers of that flow:

- SYSRANGE_START 0x00: writing 0x01 starts one ranging; bit 0 reads 1 until the chip took it.
- SYSTEM_INTERRUPT_CONFIG_GPIO 0x0A = 0x04: raise the interrupt on "new sample ready".
- RESULT_INTERRUPT_STATUS 0x13: bits 2:0 non-zero = a result is ready; bits 4:3 non-zero = a
  range error (the API's VL53L0X_ERROR_RANGE_ERROR).
- RESULT_RANGE_STATUS 0x14: bits 6:3 are the device range status; the range in mm is the 16-bit
  word at 0x14 + 10 = 0x1E (12 bytes read from 0x14 in one transaction).
- SYSTEM_INTERRUPT_CLEAR 0x0B: 0x01 then 0x00 clears it.

The device range status is mapped as ST's API maps it to the range status of UM2039 (§2.6):
1, 2, 3 (VCSEL continuity / watchdog tests) hardware failure; 4 signal failure; 6, 9 phase out
of bounds (nothing in range); 8, 10 below the minimum range. A range of 8190 mm or more is the
chip's "no target" value. Each of these is a failed read.

Left out (and said in the README): ST's API loads about 80 undocumented register writes at
init (its "default tuning settings"), reads the reference SPAD map from the chip's NVM through an
undocumented page-select sequence, and runs the VHV and phase reference calibrations; none of
these is documented outside ST's C source, so they are not copied. The chip then ranges with its
power-on settings (33 ms timing budget), and its accuracy without them is unverified on hardware.
The sigma check (1, sigma failure) is computed by the API on the host from undocumented
registers, and is not made here; the signal-rate limit and timing budget are not configurable.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import DeviceNotFound, Driver, DriverError, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

ADDRESSES = (0x29,)
SYSRANGE_START, INTERRUPT_CONFIG_GPIO, INTERRUPT_CLEAR = 0x00, 0x0A, 0x0B
RESULT_INTERRUPT_STATUS, RESULT_RANGE_STATUS = 0x13, 0x14
REFERENCE_REGISTERS = {0xC0: 0xEE, 0xC1: 0xAA}  # IDENTIFICATION_MODEL_ID and the next byte
NEW_SAMPLE_READY = 0x04
NO_TARGET_MM = 8190
#: device range status (RESULT_RANGE_STATUS bits 6:3) -> why the range is not a measurement
DEVICE_STATUS = {
    1: "hardware failure (VCSEL continuity test)",
    2: "hardware failure (VCSEL watchdog test)",
    3: "hardware failure (VCSEL watchdog)",
    4: "signal failure (too little light came back)",
    6: "phase out of bounds (nothing in range)",
    8: "below the minimum range",
    9: "phase out of bounds (nothing in range)",
    10: "below the minimum range",
}
POLL_S, START_WAIT_S, RESULT_WAIT_S = 0.005, 0.1, 0.5


def decode(result: bytes) -> float:
    """The 12 bytes from RESULT_RANGE_STATUS -> metres, or InvalidReading naming the failure."""
    status = (result[0] & 0x78) >> 3
    if status in DEVICE_STATUS:
        raise InvalidReading(f"VL53L0X: device range status {status}: {DEVICE_STATUS[status]}")
    millimetres = int.from_bytes(result[10:12], "big")
    if millimetres >= NO_TARGET_MM:
        raise InvalidReading(f"VL53L0X: {millimetres} mm is the chip's 'no target' value")
    return millimetres / 1000


class VL53L0X(Driver):
    quantities = (("distance", "m"),)

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x29,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bus, self.address = bus, check_address(address, ADDRESSES, "VL53L0X")
        self.sleep = sleep

    def open(self) -> None:
        with missing_as_not_found(self.address, "VL53L0X"):
            ident = self.bus.read_i2c_block_data(self.address, 0xC0, 2)
        for (register, expected), value in zip(REFERENCE_REGISTERS.items(), ident, strict=True):
            if value != expected:
                raise DeviceNotFound(
                    f"VL53L0X: register 0x{register:02X} reads 0x{value:02X}, not 0x{expected:02X}"
                )
        self.bus.write_byte_data(self.address, INTERRUPT_CONFIG_GPIO, NEW_SAMPLE_READY)
        self._clear()

    def _clear(self) -> None:
        self.bus.write_byte_data(self.address, INTERRUPT_CLEAR, 0x01)
        self.bus.write_byte_data(self.address, INTERRUPT_CLEAR, 0x00)

    def _poll(self, done: Callable[[], bool], seconds: float, what: str) -> None:
        for _ in range(round(seconds / POLL_S)):
            if done():
                return
            self.sleep(POLL_S)
        raise DriverError(f"VL53L0X: {what} within {seconds * 1000:g} ms")

    def read(self) -> list[Reading]:
        a = self.address
        self.bus.write_byte_data(a, SYSRANGE_START, 0x01)
        self._poll(
            lambda: not self.bus.read_byte_data(a, SYSRANGE_START) & 0x01,
            START_WAIT_S,
            "the ranging did not start",
        )
        status = 0

        def ready() -> bool:
            nonlocal status
            status = self.bus.read_byte_data(a, RESULT_INTERRUPT_STATUS)
            return bool(status & 0x07)

        self._poll(ready, RESULT_WAIT_S, "no result (not ready)")
        result = bytes(self.bus.read_i2c_block_data(a, RESULT_RANGE_STATUS, 12))
        self._clear()
        if status & 0x18:
            raise InvalidReading(f"VL53L0X: range error (interrupt status 0x{status:02X})")
        return [Reading("distance", decode(result), "m")]
