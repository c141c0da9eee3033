"""Sensirion SHT30/31/35 humidity and temperature sensor (datasheet SHT3x-DIS, v6/v7).

Single-shot measurements with clock stretching disabled (§4.3 table 9): the driver writes the
16-bit command, waits the maximum measurement duration (§2.2 table 4), then reads 6 bytes. While
measuring, the sensor NAKs the read header (§4.3), so a NAK is retried a few times. Each word is
followed by a CRC-8 (§4.12). Conversion: T = -45 + 175·S/(2^16-1), RH = 100·S/(2^16-1) (§4.13).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found, write_raw
from drivers.i2c.sensirion import read_when_ready, split_words

ADDRESSES = (0x44, 0x45)  # ADDR pin low / high (§3.1)
#: repeatability -> (single-shot command without clock stretching, max duration s) (§4.3, §2.2)
SINGLE_SHOT = {"high": (0x2400, 0.0155), "medium": (0x240B, 0.0065), "low": (0x2416, 0.0045)}
CMD_SOFT_RESET = 0x30A2  # §4.9, then max 1.5 ms until idle (table 4)
CMD_READ_STATUS = 0xF32D  # §4.11
RESET_TIME_S = 0.0015
T_RANGE_C = (-40.0, 125.0)  # specified range (§1)


def convert(raw_t: int, raw_rh: int) -> tuple[float, float]:
    """Raw words -> (°C, %RH) per §4.13."""
    return -45 + 175 * raw_t / 65535, 100 * raw_rh / 65535


class SHT3x(Driver):
    quantities = (("temperature", "°C"), ("humidity", "%"))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x44,
        *,
        repeatability: str = "high",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if repeatability not in SINGLE_SHOT:
            raise ValueError(f"SHT3x: repeatability must be one of {sorted(SINGLE_SHOT)}")
        self.bus = bus
        self.address = check_address(address, ADDRESSES, "SHT3x")
        self.command, self.duration = SINGLE_SHOT[repeatability]
        self.sleep = sleep

    def _command(self, command: int) -> None:
        write_raw(self.bus, self.address, command.to_bytes(2, "big"))

    def _read_when_ready(self, length: int) -> bytes:
        return read_when_ready(self.bus, self.address, length, self.sleep)

    def open(self) -> None:
        with missing_as_not_found(self.address, "SHT3x"):
            self._command(CMD_SOFT_RESET)
        self.sleep(RESET_TIME_S)
        self._command(CMD_READ_STATUS)
        self.status = split_words(self._read_when_ready(3), "SHT3x")[0]

    def read(self) -> list[Reading]:
        self._command(self.command)
        self.sleep(self.duration)
        raw_t, raw_rh = split_words(self._read_when_ready(6), "SHT3x")
        temp, rh = convert(raw_t, raw_rh)
        if not T_RANGE_C[0] <= temp <= T_RANGE_C[1]:
            raise InvalidReading(f"SHT3x: temperature {temp:.2f} °C outside -40..125 °C")
        return [Reading("temperature", temp, "°C"), Reading("humidity", rh, "%")]
