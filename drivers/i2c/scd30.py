"""Sensirion SCD30 NDIR CO2, temperature and humidity module (Interface Description v1.0, §1.4).

Address 0x61. Commands are 16-bit words; arguments and responses are 16-bit words each with the
Sensirion CRC-8 (§1.1: poly 0x31, init 0xFF). A response is read at least 3 ms after its command.
Used here (§1.4): trigger continuous measurement 0x0010 (argument: ambient pressure in mbar, 0 =
no compensation, else 700..1400), stop continuous measurement 0x0104, set measurement interval
0x4600 (2..1800 s), get data ready 0x0202 (1 = a measurement can be read), read measurement 0x0300
(six words: CO2, T and RH as big-endian IEEE 754 floats, each float split into two CRC'd words),
(de)activate automatic self-calibration 0x5306, set forced recalibration value 0x5204
(400..2000 ppm), set altitude compensation 0x5102 (m), read firmware version 0xD100. The example
of §1.4.5, 0x43DB 0x8C2E / 0x41D9 0xE7FF / 0x4243 0x3A1B, is 439.1 ppm, 27.24 °C, 48.8 %RH.
"""

from __future__ import annotations

import contextlib
import math
import struct
import time
from collections.abc import Callable, Sequence

from drivers.base import Driver, DriverError, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found, read_raw, write_raw
from drivers.i2c.scd4x import with_crcs
from drivers.i2c.sensirion import split_words

ADDRESSES = (0x61,)
START, STOP, SET_INTERVAL, DATA_READY, READ = 0x0010, 0x0104, 0x4600, 0x0202, 0x0300
SET_ASC, SET_FRC, SET_ALTITUDE, FIRMWARE = 0x5306, 0x5204, 0x5102, 0xD100
RESPONSE_DELAY_S = 0.003  # §1.1: at least 3 ms between command and read
READY_POLL_S = 0.1
CO2_MAX_PPM = 40_000  # measurement range (datasheet table 1)


def floats(words: Sequence[int]) -> list[float]:
    """Pairs of 16-bit words -> big-endian IEEE 754 floats."""
    return [
        struct.unpack(">f", (words[i] << 16 | words[i + 1]).to_bytes(4, "big"))[0]
        for i in range(0, len(words), 2)
    ]


def check(co2: float, temp: float, rh: float) -> tuple[float, float, float]:
    if not all(math.isfinite(v) for v in (co2, temp, rh)):
        raise InvalidReading("SCD30: a value is not a number")
    if not 0 < co2 <= CO2_MAX_PPM:
        raise InvalidReading(f"SCD30: CO2 {co2:g} ppm is not a measurement")
    if not 0 <= rh <= 100:
        raise InvalidReading(f"SCD30: humidity {rh:.2f} % is outside 0..100 %")
    if not -40 <= temp <= 70:
        raise InvalidReading(f"SCD30: temperature {temp:.2f} °C outside -40..70 °C")
    return co2, temp, rh


class SCD30(Driver):
    quantities = (("co2", "ppm"), ("temperature", "°C"), ("humidity", "%"))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x61,
        *,
        measurement_interval: int = 2,
        self_calibration: bool = False,
        altitude: int = 0,
        pressure: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 2 <= measurement_interval <= 1800:
            raise ValueError("SCD30: measurement_interval must be 2..1800 s")
        if pressure and not 700 <= pressure <= 1400:
            raise ValueError("SCD30: pressure must be 0 (off) or 700..1400 mbar")
        self.bus, self.address = bus, check_address(address, ADDRESSES, "SCD30")
        self.measurement_interval, self.self_calibration = measurement_interval, self_calibration
        self.altitude, self.pressure, self.sleep = altitude, pressure, sleep
        self.firmware: tuple[int, int] | None = None

    def _send(self, command: int, args: Sequence[int] = ()) -> None:
        write_raw(self.bus, self.address, [command >> 8, command & 0xFF, *with_crcs(args)])
        self.sleep(RESPONSE_DELAY_S)

    def _ask(self, command: int, words: int) -> list[int]:
        self._send(command)
        return split_words(read_raw(self.bus, self.address, 3 * words), "SCD30")

    def open(self) -> None:
        with missing_as_not_found(self.address, "SCD30"):
            (version,) = self._ask(FIRMWARE, 1)
        self.firmware = (version >> 8, version & 0xFF)
        self._send(SET_INTERVAL, [self.measurement_interval])
        self._send(SET_ASC, [int(self.self_calibration)])
        if self.altitude and not self.pressure:  # pressure, when given, overrides altitude
            self._send(SET_ALTITUDE, [self.altitude])
        self._send(START, [self.pressure])

    def close(self) -> None:
        with contextlib.suppress(OSError):  # gone already: nothing to stop
            self._send(STOP)

    def read(self) -> list[Reading]:
        for _ in range(round((self.measurement_interval + 1) / READY_POLL_S)):
            if self._ask(DATA_READY, 1)[0] == 1:
                break
            self.sleep(READY_POLL_S)
        else:
            raise DriverError(
                f"SCD30: no measurement within its {self.measurement_interval} s interval + 1 s"
            )
        co2, temp, rh = check(*floats(self._ask(READ, 6)))
        return [
            Reading("co2", co2, "ppm"),
            Reading("temperature", temp, "°C"),
            Reading("humidity", rh, "%"),
        ]

    def forced_recalibration(self, target_ppm: int) -> None:
        """Tell the module the CO2 it sees now (§1.4.6; after 2 minutes of steady measuring)."""
        if not 400 <= target_ppm <= 2000:
            raise ValueError("SCD30: forced recalibration value must be 400..2000 ppm")
        self._send(SET_FRC, [target_ppm])

    def set_self_calibration(self, enabled: bool) -> None:
        """(De-)activate continuous automatic self-calibration (§1.4.6; accepted while measuring);
        the module keeps it across power cycles, and every open() sends the configured value."""
        self._send(SET_ASC, [int(enabled)])
        self.self_calibration = enabled
