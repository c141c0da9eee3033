"""Winsen MH-Z19B NDIR CO2 sensor, UART (MH-Z19B user's manual v1.0, "Communication protocol").

9600 baud 8N1. Every command and response is 9 bytes: 0xFF, then (command) sensor number 0x01
and the command, or (response) the command echoed, five more bytes, and a checksum =
(0xFF - (sum of bytes 1..7)) + 1, low 8 bits. Commands used: 0x86 read CO2 (response bytes 2, 3 =
concentration high, low), 0x79 self-calibration (ABC) on (byte 3 = 0xA0) / off (0x00), 0x99
detection range (bytes 6, 7 = 2000 or 5000 ppm). The manual's example: FF 86 02 60 47 00 00 00 D1
is 608 ppm. The sensor needs 3 minutes of preheating after power-on; a value outside 0..range
is a failed read.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import ChecksumError, Driver, DriverError, InvalidReading, Reading
from drivers.serial.stream import SerialPort, collect, record

CMD_READ, CMD_ABC, CMD_RANGE = 0x86, 0x79, 0x99
FRAME = 9
RANGES = (2000, 5000, 10000)


def checksum(frame: bytes) -> int:
    return (0xFF - sum(frame[1:8]) + 1) & 0xFF


def command(cmd: int, data: bytes = b"\x00" * 5) -> bytes:
    body = bytes([0xFF, 0x01, cmd]) + data.ljust(5, b"\x00")
    return body + bytes([checksum(body + b"\x00")])


class MhZ19Decoder:
    """9-byte responses to one command; bad checksums are kept in `errors` and skipped by one byte."""

    def __init__(self, cmd: int) -> None:
        self.cmd = cmd
        self._buf = bytearray()
        self.errors: list[DriverError] = []

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            start = self._buf.find(bytes([0xFF, self.cmd]))
            if start < 0:
                del self._buf[: -1 if self._buf.endswith(b"\xff") else len(self._buf)]
                return out
            del self._buf[:start]
            if len(self._buf) < FRAME:
                return out
            frame = bytes(self._buf[:FRAME])
            if checksum(frame) != frame[8]:
                record(
                    self.errors,
                    ChecksumError(
                        f"MH-Z19B: checksum 0x{frame[8]:02X} != "
                        f"0x{checksum(frame):02X} in {frame.hex()}"
                    ),
                )
                del self._buf[:1]
                continue
            del self._buf[:FRAME]
            out.append(frame)


def parse_co2(frame: bytes, detection_range: int) -> int:
    ppm = frame[2] << 8 | frame[3]
    if not 0 < ppm <= detection_range:
        raise InvalidReading(f"MH-Z19B: {ppm} ppm outside its 0..{detection_range} ppm range")
    return ppm


class MhZ19B(Driver):
    quantities = (("co2", "ppm"),)

    def __init__(
        self,
        port: SerialPort,
        *,
        self_calibration: bool = True,
        detection_range: int = 5000,
        timeout: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if detection_range not in RANGES:
            raise ValueError(f"MH-Z19B: detection_range must be one of {RANGES}")
        self.port, self.timeout, self.monotonic = port, timeout, monotonic
        self.self_calibration, self.detection_range = self_calibration, detection_range

    def _request(self, frame: bytes, cmd: int) -> bytes:
        self.port.reset_input_buffer()
        self.port.write(frame)
        decoder = MhZ19Decoder(cmd)
        return collect(
            self.port, decoder, bool, timeout=self.timeout, what="MH-Z19B", monotonic=self.monotonic
        )[0]

    def open(self) -> None:
        # ABC and range have no response on the B model (manual: "no return value"): just send
        self.set_self_calibration(self.self_calibration)
        self.port.write(
            command(CMD_RANGE, b"\x00\x00\x00" + self.detection_range.to_bytes(2, "big"))
        )

    def read(self) -> list[Reading]:
        frame = self._request(command(CMD_READ), CMD_READ)
        return [Reading("co2", parse_co2(frame, self.detection_range), "ppm")]

    def set_self_calibration(self, enabled: bool) -> None:
        """ABC on (byte 3 = 0xA0) or off (0x00), command 0x79; the B model sends no answer."""
        self.port.write(command(CMD_ABC, bytes([0xA0 if enabled else 0x00])))
        self.self_calibration = enabled
