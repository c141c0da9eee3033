"""HTU21D(F), Sensirion SHT21 and Silicon Labs Si7021 humidity and temperature sensors.

The three share one command set and frame (SHT21 datasheet v6 §5.3, table 6; HTU21D(F) datasheet
"commands"; Si7021-A20 §5, table 11): address 0x40; "trigger measurement, no hold master" 0xF3
(temperature) and 0xF5 (humidity), during which the chip NAKs reads (§5.4); soft reset 0xFE
(15 ms, §5.5). The response is MSB, LSB, CRC; the two lowest bits of LSB are status (bit 1: 0 =
temperature, 1 = humidity, §6) and are cleared before conversion. CRC-8 x^8 + x^5 + x^4 + 1 with
initial value 0x00 (SHT21 §5.7, examples 0xDC -> 0x79, 0x683A -> 0x7C, 0x4E85 -> 0x6B).
Conversion (§6.1, §6.2): RH = -6 + 125·S/2^16, T = -46.85 + 175.72·S/2^16. RH outside 0..100 %
raises (the datasheets allow small negative or >100 values from the formula; never clamp).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import ChecksumError, Driver, DriverError, InvalidReading, Reading
from drivers.bus.i2c import NO_ACK_ERRNOS, SMBusLike, missing_as_not_found, read_raw, write_raw

ADDRESS = 0x40
CMD_T, CMD_RH, CMD_RESET = 0xF3, 0xF5, 0xFE
RESET_S = 0.015
#: chip -> (temperature 14 bit, humidity 12 bit) maximum conversion time in s
WAIT_S = {"htu21d": (0.050, 0.016), "sht21": (0.085, 0.029), "si7021": (0.0108, 0.012)}
POLL_S, POLLS = 0.005, 10  # NAK while measuring: poll a little beyond the maximum
T_RANGE_C = (-40.0, 125.0)


def crc8(data: bytes) -> int:
    crc = 0x00
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc << 1 ^ 0x31) & 0xFF if crc & 0x80 else crc << 1 & 0xFF
    return crc


def decode(frame: bytes, humidity: bool) -> int:
    """[MSB, LSB, CRC] -> the raw value with its status bits cleared; checks CRC and the type bit."""
    if len(frame) != 3:
        raise DriverError(f"HTU21D: response of {len(frame)} bytes, expected 3")
    if crc8(frame[:2]) != frame[2]:
        raise ChecksumError(
            f"HTU21D: CRC 0x{frame[2]:02X} != 0x{crc8(frame[:2]):02X} for {frame[:2].hex()}"
        )
    raw = int.from_bytes(frame[:2], "big")
    if bool(raw & 0x02) != humidity:
        raise DriverError("HTU21D: the status bit says the response is of the other measurement")
    return raw & 0xFFFC


def temperature(raw: int) -> float:
    value = -46.85 + 175.72 * raw / 65536
    if not T_RANGE_C[0] <= value <= T_RANGE_C[1]:
        raise InvalidReading(f"HTU21D: temperature {value:.2f} °C outside -40..125 °C")
    return value


def humidity(raw: int) -> float:
    value = -6 + 125 * raw / 65536
    if not 0 <= value <= 100:
        raise InvalidReading(f"HTU21D: humidity {value:.2f} % is outside 0..100 %")
    return value


class HTU21D(Driver):
    quantities = (("temperature", "°C"), ("humidity", "%"))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = ADDRESS,
        *,
        chip: str = "htu21d",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if address != ADDRESS:
            raise ValueError(f"{chip}: address 0x{address:02X} is not its address (0x40)")
        if chip not in WAIT_S:
            raise ValueError(f"HTU21D: chip must be one of {sorted(WAIT_S)}")
        self.bus, self.address, self.chip, self.sleep = bus, address, chip, sleep
        self.wait_t, self.wait_rh = WAIT_S[chip]

    def open(self) -> None:
        with missing_as_not_found(self.address, self.chip):
            write_raw(self.bus, self.address, [CMD_RESET])
        self.sleep(RESET_S)

    def _measure(self, command: int, wait: float) -> bytes:
        write_raw(self.bus, self.address, [command])
        self.sleep(wait)
        for attempt in range(POLLS):
            try:
                return read_raw(self.bus, self.address, 3)
            except OSError as exc:
                if exc.errno not in NO_ACK_ERRNOS or attempt == POLLS - 1:
                    raise
                self.sleep(POLL_S)
        raise AssertionError("unreachable")

    def read(self) -> list[Reading]:
        t = temperature(decode(self._measure(CMD_T, self.wait_t), humidity=False))
        rh = humidity(decode(self._measure(CMD_RH, self.wait_rh), humidity=True))
        return [Reading("temperature", t, "°C"), Reading("humidity", rh, "%")]
