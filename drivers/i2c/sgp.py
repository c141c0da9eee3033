"""Sensirion SGP40 (VOC index) and SGP30 (eCO2 and TVOC) gas sensors.

Both speak the Sensirion I2C protocol of the SCD4x (16-bit commands, words + CRC-8, NAK until the
command's time has passed) and want a measurement every second: their baselines are learnt from a
1 Hz stream, so these sensors run with `interval = 1` (publish with on_change and a deadband).
Both take temperature and humidity from another sensor (`compensate()`, fed by the gateway from
the sensor named in `compensation_sensor`); without it they use the datasheets' defaults.

SGP40 (datasheet SGP40 v1.x, §4): address 0x59; sgp40_measure_raw_signal 0x260F with two argument
words, humidity ticks = RH % × 65535 / 100 and temperature ticks = (T °C + 45) × 65535 / 175
(defaults 0x8000 = 50 % and 0x6666 = 25 °C), 30 ms, one word SRAW; execute_self_test 0x280E
(320 ms; 0xD400 = passed, 0x4B00 = failed); turn_heater_off 0x3615; serial number 0x3682. The VOC
index (1..500, 100 = the average of the last 24 h) comes from Sensirion's own gas index algorithm
(the sensirion-gas-index-algorithm package, their C code): it reports 0 during its first 45
samples, which is not an index, so a read reports nothing until then (the sensor is online).

SGP30 (datasheet SGP30 v1.x, §6.3, table 10): address 0x58; sgp30_iaq_init 0x2003 (10 ms),
measure_iaq 0x2008 (12 ms: CO2eq ppm, TVOC ppb), set_absolute_humidity 0x2061 (g/m³ in 8.8 fixed
point, 0x0F80 = 15.50 g/m³; 0 turns compensation off), get_feature_set 0x202F (product type 0 in
bits 15:12). For the first 15 s after init it returns the fixed 400 ppm / 0 ppb: those are left
out. Absolute humidity from T and RH by the datasheet's formula (§3.16).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from drivers.base import Driver, DriverError, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found, write_raw
from drivers.i2c.scd4x import with_crcs
from drivers.i2c.sensirion import read_when_ready, split_words

SERIAL_NUMBER = 0x3682
SGP40_MEASURE, SGP40_SELF_TEST, SGP40_HEATER_OFF = 0x260F, 0x280E, 0x3615
SGP40_SELF_TEST_OK = 0xD400
SGP30_INIT, SGP30_MEASURE, SGP30_HUMIDITY, SGP30_FEATURES = 0x2003, 0x2008, 0x2061, 0x202F
SGP30_WARMUP_S = 15.0


def humidity_ticks(rh: float) -> int:
    return round(min(100.0, max(0.0, rh)) * 65535 / 100)


def temperature_ticks(celsius: float) -> int:
    return round((min(130.0, max(-45.0, celsius)) + 45) * 65535 / 175)


def absolute_humidity(celsius: float, rh: float) -> float:
    """g/m³ from °C and %RH (SGP30 datasheet §3.16)."""
    return 216.7 * (
        rh / 100 * 6.112 * math.exp(17.62 * celsius / (243.12 + celsius)) / (273.15 + celsius)
    )


def fixed_8_8(grams: float) -> int:
    return min(0xFFFF, round(grams * 256))


class _Sensirion(Driver):
    chip = ""

    def __init__(
        self,
        bus: SMBusLike,
        address: int,
        addresses: tuple[int, ...],
        sleep: Callable[[float], None],
    ) -> None:
        self.bus, self.sleep = bus, sleep
        self.address = check_address(address, addresses, self.chip)
        self.temperature: float | None = None
        self.humidity: float | None = None
        self.serial_number: int | None = None

    def compensate(self, temperature: float, humidity: float) -> None:
        """The latest temperature and humidity of the air the sensor breathes."""
        self.temperature, self.humidity = temperature, humidity

    def _send(self, command: int, args: Sequence[int] = (), wait: float = 0.001) -> None:
        write_raw(self.bus, self.address, [command >> 8, command & 0xFF, *with_crcs(args)])
        self.sleep(wait)

    def _ask(
        self, command: int, words: int, args: Sequence[int] = (), wait: float = 0.001
    ) -> list[int]:
        self._send(command, args, wait)
        return split_words(
            read_when_ready(self.bus, self.address, 3 * words, self.sleep), self.chip
        )

    def _read_serial(self) -> None:
        with missing_as_not_found(self.address, self.chip):
            a, b, c = self._ask(SERIAL_NUMBER, 3)
        self.serial_number = a << 32 | b << 16 | c


class SGP40(_Sensirion):
    chip = "SGP40"
    quantities = (("voc_index", ""),)

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x59,
        *,
        sampling_interval: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(bus, address, (0x59,), sleep)
        self.sampling_interval = sampling_interval
        self.algorithm: Any = None  # a VocAlgorithm (a C extension without type information)

    def open(self) -> None:
        from sensirion_gas_index_algorithm.voc_algorithm import VocAlgorithm  # lazily: optional

        self._read_serial()
        (result,) = self._ask(SGP40_SELF_TEST, 1, wait=0.320)
        if result != SGP40_SELF_TEST_OK:
            raise DriverError(f"SGP40: self-test failed (0x{result:04X}, expected 0xD400)")
        if self.algorithm is None:  # a reopen keeps what the algorithm learnt
            self.algorithm = VocAlgorithm(sampling_interval=self.sampling_interval)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send(SGP40_HEATER_OFF)

    def read(self) -> list[Reading]:
        if self.algorithm is None:
            self.open()
        args = (
            [humidity_ticks(self.humidity), temperature_ticks(self.temperature)]
            if self.temperature is not None and self.humidity is not None
            else [0x8000, 0x6666]
        )
        (sraw,) = self._ask(SGP40_MEASURE, 1, args, wait=0.030)
        index = self.algorithm.process(sraw)
        if index <= 0:  # 0: the algorithm's first 45 samples
            return []
        return [Reading("voc_index", index)]


class SGP30(_Sensirion):
    chip = "SGP30"
    quantities = (("eco2", "ppm"), ("tvoc", "ppb"))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x58,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(bus, address, (0x58,), sleep)
        self.monotonic = monotonic
        self.started: float | None = None
        self.sent_humidity: int | None = None

    def open(self) -> None:
        self._read_serial()
        (features,) = self._ask(SGP30_FEATURES, 1, wait=0.010)
        if features >> 12 != 0:
            raise DriverError(
                f"SGP30: feature set 0x{features:04X} is not an SGP30's (product type 0)"
            )
        self._send(SGP30_INIT, wait=0.010)
        self.started, self.sent_humidity = self.monotonic(), None

    def read(self) -> list[Reading]:
        if self.started is None:
            self.open()
        if self.temperature is not None and self.humidity is not None:
            value = fixed_8_8(absolute_humidity(self.temperature, self.humidity)) or 1
            if value != self.sent_humidity:
                self._send(SGP30_HUMIDITY, [value], wait=0.010)
                self.sent_humidity = value
        eco2, tvoc = self._ask(SGP30_MEASURE, 2, wait=0.012)
        assert self.started is not None  # open() set it
        if self.monotonic() - self.started < SGP30_WARMUP_S:
            return []  # the fixed 400 ppm / 0 ppb of the first 15 s
        return [Reading("eco2", eco2, "ppm"), Reading("tvoc", tvoc, "ppb")]
