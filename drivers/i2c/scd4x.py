"""Sensirion SCD40 / SCD41 photoacoustic CO2 sensors (datasheet SCD4x, version 1.x).

Every command is a 16-bit word, MSB first (§3.5, table 9); arguments and responses are 16-bit
words each followed by the Sensirion CRC-8 (poly 0x31, init 0xFF, §3.11; crc(0xBEEF) = 0x92).
A response is read after the command's execution time; the chip NAKs until then.

Commands used here: start_periodic_measurement 0x21B1 (a new sample every 5 s), read_measurement
0xEC05 (1 ms: CO2 ppm, T word, RH word), stop_periodic_measurement 0x3F86 (500 ms),
get_data_ready_status 0xE4B8 (1 ms: not ready when the 11 least significant bits are 0),
get_serial_number 0x3682 (1 ms, three words), set_automatic_self_calibration_enabled 0x2416 (1 ms),
set_sensor_altitude 0x2427 (1 ms, metres), perform_forced_recalibration 0x362F (400 ms: target
ppm in, correction + 0x8000 out, 0xFFFF = failed), measure_single_shot 0x219D (SCD41 only, 5000 ms:
one sample from idle; an SCD40 does not know it and NAKs). While the periodic measurement runs only
read_measurement, get_data_ready_status and stop_periodic_measurement may be sent: the others are
sent between a stop and a start. Conversion (§3.6.2): T = -45 + 175·S_T/2^16, RH = 100·S_RH/2^16.
A CO2 of 0 ppm is not a measurement (Sensirion's own drivers skip it as "invalid sample").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from drivers.base import Driver, DriverError, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found, write_raw
from drivers.i2c.sensirion import crc8, read_when_ready, split_words

ADDRESSES = (0x62,)
START_PERIODIC, READ_MEASUREMENT, STOP_PERIODIC = 0x21B1, 0xEC05, 0x3F86
DATA_READY, SERIAL_NUMBER = 0xE4B8, 0x3682
MEASURE_SINGLE_SHOT, SINGLE_SHOT_S = 0x219D, 5.0
SET_ASC, SET_ALTITUDE, FORCED_RECALIBRATION = 0x2416, 0x2427, 0x362F
CMD_S, STOP_S, FRC_S = 0.001, 0.500, 0.400
SAMPLE_PERIOD_S = 5.0
READY_POLL_S = 0.1
READY_WAIT_S = 1.2  # a later read: up to 1.2 s past a late sample
FIRST_WAIT_S = 6.0  # the first sample comes 5 s after the start
CO2_MAX_PPM = 40_000  # output range (§1.1)


def with_crcs(words: Sequence[int]) -> list[int]:
    out: list[int] = []
    for word in words:
        pair = word.to_bytes(2, "big")
        out += [*pair, crc8(pair)]
    return out


def convert(co2: int, raw_t: int, raw_rh: int) -> tuple[int, float, float]:
    """Words of read_measurement -> (ppm, °C, %RH), §3.6.2."""
    if co2 == 0 or co2 > CO2_MAX_PPM:
        raise InvalidReading(f"SCD4x: CO2 {co2} ppm is not a measurement")
    return co2, -45 + 175 * raw_t / 65536, 100 * raw_rh / 65536


class SCD4x(Driver):
    quantities = (("co2", "ppm"), ("temperature", "°C"), ("humidity", "%"))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x62,
        *,
        self_calibration: bool = True,
        altitude: int = 0,
        single_shot: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 <= altitude <= 3000:
            raise ValueError("SCD4x: altitude must be 0..3000 m (the compensation's range)")
        self.bus, self.address = bus, check_address(address, ADDRESSES, "SCD4x")
        self.self_calibration, self.altitude, self.sleep = self_calibration, altitude, sleep
        self.single_shot = single_shot  # SCD41: idle between reads, one sample per read
        self.configured = False
        self.serial_number: int | None = None
        self.running = False
        self.fresh_start = False  # no sample read since the last start

    def _send(self, command: int, args: Sequence[int] = (), wait: float = CMD_S) -> None:
        write_raw(self.bus, self.address, [command >> 8, command & 0xFF, *with_crcs(args)])
        self.sleep(wait)

    def _ask(
        self, command: int, words: int, args: Sequence[int] = (), wait: float = CMD_S
    ) -> list[int]:
        self._send(command, args, wait)
        return split_words(read_when_ready(self.bus, self.address, 3 * words, self.sleep), "SCD4x")

    def open(self) -> None:
        with missing_as_not_found(self.address, "SCD4x"):
            self._send(STOP_PERIODIC, wait=STOP_S)  # it may still be measuring from before
        self.running = False
        a, b, c = self._ask(SERIAL_NUMBER, 3)
        self.serial_number = a << 32 | b << 16 | c
        self._send(SET_ASC, [int(self.self_calibration)])
        self._send(SET_ALTITUDE, [self.altitude])
        self.configured = True
        if not self.single_shot:
            self._start()

    def _start(self) -> None:
        self._send(START_PERIODIC)
        self.running = self.fresh_start = True

    def close(self) -> None:
        if self.running:
            self._send(STOP_PERIODIC, wait=STOP_S)
            self.running = False

    def _wait_ready(self) -> None:
        polls = round((FIRST_WAIT_S if self.fresh_start else READY_WAIT_S) / READY_POLL_S)
        for _ in range(polls):
            if self._ask(DATA_READY, 1)[0] & 0x07FF:
                self.fresh_start = False
                return
            self.sleep(READY_POLL_S)
        raise DriverError("SCD4x: no new sample (it makes one every 5 s; is the interval >= 5 s?)")

    def _measure_single_shot(self) -> None:
        try:
            self._send(MEASURE_SINGLE_SHOT, wait=SINGLE_SHOT_S)
        except OSError as exc:
            raise DriverError(
                f"SCD4x: measure_single_shot refused ({exc}): single_shot is for the SCD41 only"
            ) from exc
        if not self._ask(DATA_READY, 1)[0] & 0x07FF:
            raise DriverError("SCD4x: no sample after measure_single_shot's 5 s")

    def read(self) -> list[Reading]:
        if self.single_shot:
            if not self.configured:
                self.open()
            self._measure_single_shot()
        else:
            if not self.running:
                self.open()
            self._wait_ready()
        co2, temp, rh = convert(*self._ask(READ_MEASUREMENT, 3))
        return [
            Reading("co2", co2, "ppm"),
            Reading("temperature", temp, "°C"),
            Reading("humidity", rh, "%"),
        ]

    def _idle(self) -> None:
        """The documented state for the configuration commands: stop_periodic_measurement, then
        500 ms before the next command (§3.5)."""
        if self.running:
            self._send(STOP_PERIODIC, wait=STOP_S)
            self.running = False

    def _resume(self) -> None:
        if not self.single_shot:
            self._start()

    def forced_recalibration(self, target_ppm: int) -> int:
        """Tell the sensor the CO2 it sees now is `target_ppm` (after 3 minutes in that air, §3.8.1);
        returns the correction in ppm. Stops and restarts the periodic measurement."""
        if not 400 <= target_ppm <= 2000:
            raise ValueError("SCD4x: forced recalibration target must be 400..2000 ppm")
        self._idle()
        (result,) = self._ask(FORCED_RECALIBRATION, 1, [target_ppm], wait=FRC_S)
        self._resume()
        if result == 0xFFFF:
            raise DriverError(
                "SCD4x: forced recalibration failed (was it measuring for 3 minutes before?)"
            )
        return result - 0x8000

    def set_self_calibration(self, enabled: bool) -> None:
        """set_automatic_self_calibration_enabled, sent in the idle state (stop, 500 ms); kept until
        the sensor is powered off (not persisted to its EEPROM) and sent again by every open()."""
        self._idle()
        self._send(SET_ASC, [int(enabled)])
        self.self_calibration = enabled
        self._resume()
