"""Aosong AHT10, AHT20 and AHT21 humidity and temperature sensors (AHT20 datasheet v1.1, AHT10 v1.0).

Address 0x38. Status byte (read after command 0x71, §5.4): bit 7 busy, bit 3 calibration enabled.
After power-on (40 ms) a chip whose calibration bit is clear is initialised with 0xBE 0x08 0x00
(AHT20/21; the AHT10 uses 0xE1 0x08 0x00) and 10 ms. A measurement is triggered with 0xAC 0x33
0x00 and is done after 80 ms (§5.4 step 3); then 7 bytes are read (6 on the AHT10, which has no
CRC): status, 20 bits of humidity, 20 bits of temperature, CRC-8 over the first 6 bytes (poly 0x31,
init 0xFF, §5.4.4 — the Sensirion polynomial). Conversion (§6.1, §6.2):
RH = S_RH / 2^20 · 100 %, T = S_T / 2^20 · 200 - 50 °C. A busy status after the wait, a CRC
mismatch or a humidity outside 0..100 % is a failed read.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import ChecksumError, Driver, DriverError, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, missing_as_not_found, read_raw, write_raw
from drivers.i2c.sensirion import crc8

ADDRESS = 0x38
CMD_STATUS = 0x71
CMD_INIT = {"aht10": (0xE1, 0x08, 0x00), "aht20": (0xBE, 0x08, 0x00), "aht21": (0xBE, 0x08, 0x00)}
CMD_MEASURE = (0xAC, 0x33, 0x00)
BUSY, CALIBRATED = 0x80, 0x08
POWER_ON_S, INIT_S, MEASURE_S = 0.040, 0.010, 0.080
BUSY_POLLS, BUSY_POLL_S = 3, 0.010
T_RANGE_C = (-40.0, 85.0)


def convert(frame: bytes) -> tuple[float, float]:
    """Status + 5 data bytes -> (°C, %RH) per §6."""
    raw_rh = frame[1] << 12 | frame[2] << 4 | frame[3] >> 4
    raw_t = (frame[3] & 0x0F) << 16 | frame[4] << 8 | frame[5]
    rh, temp = raw_rh / 2**20 * 100, raw_t / 2**20 * 200 - 50
    if not 0 <= rh <= 100:
        raise InvalidReading(f"AHT: humidity {rh:.2f} % is outside 0..100 %")
    if not T_RANGE_C[0] <= temp <= T_RANGE_C[1]:
        raise InvalidReading(f"AHT: temperature {temp:.2f} °C outside -40..85 °C")
    return temp, rh


class AHT(Driver):
    quantities = (("temperature", "°C"), ("humidity", "%"))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = ADDRESS,
        *,
        chip: str = "aht20",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if chip not in CMD_INIT:
            raise ValueError(f"AHT: chip must be one of {sorted(CMD_INIT)}")
        if address != ADDRESS:
            raise ValueError(f"{chip}: address 0x{address:02X} is not its address (0x38)")
        self.bus, self.address, self.chip, self.sleep = bus, address, chip, sleep
        self.length = 6 if chip == "aht10" else 7

    def _status(self) -> int:
        write_raw(self.bus, self.address, [CMD_STATUS])
        return read_raw(self.bus, self.address, 1)[0]

    def open(self) -> None:
        self.sleep(POWER_ON_S)
        with missing_as_not_found(self.address, self.chip):
            status = self._status()
        if not status & CALIBRATED:
            write_raw(self.bus, self.address, CMD_INIT[self.chip])
            self.sleep(INIT_S)
            if not self._status() & CALIBRATED:
                raise DriverError(f"{self.chip}: calibration bit still clear after initialisation")

    def read(self) -> list[Reading]:
        write_raw(self.bus, self.address, CMD_MEASURE)
        self.sleep(MEASURE_S)
        for _ in range(BUSY_POLLS):
            frame = read_raw(self.bus, self.address, self.length)
            if not frame[0] & BUSY:
                break
            self.sleep(BUSY_POLL_S)
        else:
            raise DriverError(
                f"{self.chip}: still busy {MEASURE_S + BUSY_POLLS * BUSY_POLL_S:.2f} s "
                f"after the trigger"
            )
        if self.length == 7 and crc8(frame[:6]) != frame[6]:
            raise ChecksumError(f"{self.chip}: CRC 0x{frame[6]:02X} != 0x{crc8(frame[:6]):02X}")
        temp, rh = convert(frame)
        return [Reading("temperature", temp, "°C"), Reading("humidity", rh, "%")]
