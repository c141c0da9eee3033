"""Senseair S8 NDIR CO2 sensor over Modbus RTU (Senseair "Modbus on Senseair S8" TDE2067).

9600 baud 8N1; the sensor answers at its own address (0x68 as shipped) and at 0xFE, the "any
sensor" address, which is what a single sensor on a port uses. Input registers (function 0x04):
IR1 (address 0) MeterStatus, IR4 (address 3) CO2 in ppm. Holding register HR32 (address 31) is
the ABC period in hours (0 = ABC off): read with function 0x03 at start-up and written with 0x06
only when it differs (it is kept in the sensor's EEPROM). MeterStatus bits: 0 fatal
error, 1 offset regulation error, 2 algorithm error, 3 output error, 4 self-diagnostics error,
5 out of range, 6 memory error; any of them set makes the read fail with its names. The
document's example: request FE 04 00 03 00 01 D5 C5, response FE 04 02 01 90 AC D8 = 400 ppm.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import Driver, DriverError, InvalidReading, Reading
from drivers.serial.modbus_rtu import ResponseDecoder, with_crc
from drivers.serial.stream import SerialPort, collect

ANY_SENSOR = 0xFE
IR_STATUS, IR_CO2, HR_ABC_PERIOD = 0, 3, 31
STATUS_BITS = (
    "fatal error",
    "offset regulation error",
    "algorithm error",
    "output error",
    "self-diagnostics error",
    "out of range",
    "memory error",
)
CO2_MAX_PPM = 10_000


def read_request(slave: int, function: int, address: int, count: int) -> bytes:
    return with_crc(
        bytes([slave, function]) + address.to_bytes(2, "big") + count.to_bytes(2, "big")
    )


def write_register_request(slave: int, address: int, value: int) -> bytes:
    return with_crc(bytes([slave, 0x06]) + address.to_bytes(2, "big") + value.to_bytes(2, "big"))


def status_problems(status: int) -> list[str]:
    return [name for bit, name in enumerate(STATUS_BITS) if status & 1 << bit]


class SenseairS8(Driver):
    quantities = (("co2", "ppm"),)

    def __init__(
        self,
        port: SerialPort,
        *,
        slave: int = ANY_SENSOR,
        abc_period: int = 180,
        timeout: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (1 <= slave <= 247 or slave == ANY_SENSOR):
            raise ValueError("Senseair S8: slave must be 1..247 or 254 (0xFE, any sensor)")
        if not 0 <= abc_period <= 0xFFFF:
            raise ValueError("Senseair S8: abc_period is hours, 0 (off) .. 65535")
        self.port, self.slave, self.abc_period = port, slave, abc_period
        self.timeout, self.monotonic = timeout, monotonic

    def _registers(self, function: int, address: int, count: int) -> tuple[int, ...]:
        self.port.reset_input_buffer()
        self.port.write(read_request(self.slave, function, address, count))
        decoder = ResponseDecoder(self.slave, function, count)
        frames = collect(
            self.port,
            decoder,
            lambda f: bool(f or decoder.errors),
            timeout=self.timeout,
            what="Senseair S8",
            monotonic=self.monotonic,
        )
        if decoder.errors:
            raise decoder.errors[-1]
        return frames[0]

    def open(self) -> None:
        (period,) = self._registers(0x03, HR_ABC_PERIOD, 1)
        if period == self.abc_period:
            return  # the setting lives in the sensor's EEPROM: write only a change
        self.port.reset_input_buffer()
        request = write_register_request(self.slave, HR_ABC_PERIOD, self.abc_period)
        self.port.write(request)
        echo = collect(
            self.port,
            _Echo(len(request)),
            bool,
            timeout=self.timeout,
            what="Senseair S8",
            monotonic=self.monotonic,
        )[0]
        if echo != request:  # function 0x06 answers with the request itself
            raise InvalidReading(f"Senseair S8: writing the ABC period answered {echo.hex()}")

    def read(self) -> list[Reading]:
        status, _, _, co2 = self._registers(0x04, IR_STATUS, 4)
        problems = status_problems(status)
        if problems:
            raise InvalidReading(f"Senseair S8: meter status 0x{status:04X}: {', '.join(problems)}")
        if not 0 < co2 <= CO2_MAX_PPM:
            raise InvalidReading(f"Senseair S8: {co2} ppm is not a measurement")
        return [Reading("co2", co2, "ppm")]


class _Echo:
    """Collects the answer to a write: the request echoed (`length` bytes) or a 5-byte exception."""

    def __init__(self, length: int) -> None:
        self.length, self._buf = length, bytearray()
        self.errors: list[DriverError] = []

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        size = 5 if len(self._buf) >= 2 and self._buf[1] & 0x80 else self.length
        return [bytes(self._buf[:size])] if len(self._buf) >= size else []
