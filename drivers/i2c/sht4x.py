"""Sensirion SHT40/41/45 humidity and temperature sensor (datasheet SHT4x, v6.x).

One-byte commands (§4.5 table 7): measure with high / medium / low precision (0xFD / 0xF6 /
0xE0), read serial number (0x89), soft reset (0x94). The response is 6 bytes: T word, CRC, RH
word, CRC (CRC-8 §4.4). The sensor NAKs a read until the measurement is done (§4.2). Conversion
(§4.6): T = -45 + 175·S/(2^16-1), RH = -6 + 125·S/(2^16-1). The datasheet suggests cropping RH
to 0..100 %; we raise InvalidReading instead (never clamp).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found, write_raw
from drivers.i2c.sensirion import read_when_ready, split_words

ADDRESSES = (0x44, 0x45, 0x46)  # SHT4x-A / -B / -C variants (§4.1)
#: precision -> (command, max duration in s) (§4.5 table 7, §3.1 table 4)
MEASURE = {"high": (0xFD, 0.0083), "medium": (0xF6, 0.0045), "low": (0xE0, 0.0016)}
CMD_SERIAL = 0x89
CMD_SOFT_RESET = 0x94
RESET_TIME_S = 0.001
T_RANGE_C = (-40.0, 125.0)


def convert(raw_t: int, raw_rh: int) -> tuple[float, float]:
    """Raw words -> (°C, %RH) per §4.6; RH outside 0..100 % raises."""
    temp, rh = -45 + 175 * raw_t / 65535, -6 + 125 * raw_rh / 65535
    if not 0 <= rh <= 100:
        raise InvalidReading(f"SHT4x: humidity {rh:.2f} % is outside 0..100 %")
    if not T_RANGE_C[0] <= temp <= T_RANGE_C[1]:
        raise InvalidReading(f"SHT4x: temperature {temp:.2f} °C outside -40..125 °C")
    return temp, rh


class SHT4x(Driver):
    quantities = (("temperature", "°C"), ("humidity", "%"))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x44,
        *,
        precision: str = "high",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if precision not in MEASURE:
            raise ValueError(f"SHT4x: precision must be one of {sorted(MEASURE)}")
        self.bus = bus
        self.address = check_address(address, ADDRESSES, "SHT4x")
        self.command, self.duration = MEASURE[precision]
        self.sleep = sleep
        self.serial_number: int | None = None

    def _read_when_ready(self, length: int) -> bytes:
        return read_when_ready(self.bus, self.address, length, self.sleep)

    def open(self) -> None:
        with missing_as_not_found(self.address, "SHT4x"):
            write_raw(self.bus, self.address, [CMD_SOFT_RESET])
        self.sleep(RESET_TIME_S)
        write_raw(self.bus, self.address, [CMD_SERIAL])
        self.sleep(RESET_TIME_S)
        hi, lo = split_words(self._read_when_ready(6), "SHT4x")
        self.serial_number = hi << 16 | lo

    def read(self) -> list[Reading]:
        write_raw(self.bus, self.address, [self.command])
        self.sleep(self.duration)
        temp, rh = convert(*split_words(self._read_when_ready(6), "SHT4x"))
        return [Reading("temperature", temp, "°C"), Reading("humidity", rh, "%")]
