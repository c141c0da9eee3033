"""Modbus RTU master for reading registers (Modbus Application Protocol v1.1b3, Modbus over
Serial Line v1.02), as a small sans-IO codec plus a thin driver.

Request (§6.3 / §6.4 of the application protocol): slave, function 0x03 (holding) or 0x04
(input), start address, quantity 1..125, then CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF,
low byte first; serial line spec §6.2.2). Response: slave, function, byte count = 2×N, data, CRC,
or an exception: slave, function | 0x80, exception code, CRC (§7). `ResponseDecoder` knows the
expected length from the first bytes, so it needs no inter-frame timing. Registers are decoded
per `RegisterSpec`: int16 / uint16 (one register), int32 / uint32 / float32 (two registers, word
order "big" = high word first, or "little"), × scale + offset.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drivers.base import ChecksumError, Driver, DriverError, InvalidReading, Reading
from drivers.serial.stream import SerialPort, collect

FUNCTIONS = {"holding": 0x03, "input": 0x04}
TYPES = {
    "int16": (1, ">h"),
    "uint16": (1, ">H"),
    "int32": (2, ">i"),
    "uint32": (2, ">I"),
    "float32": (2, ">f"),
}
EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
MAX_REGISTERS = 125  # §6.3: quantity 1..125


class ModbusException(DriverError):
    """The slave answered with an exception response (application protocol §7)."""

    def __init__(self, slave: int, function: int, code: int) -> None:
        self.code = code
        super().__init__(
            f"Modbus slave {slave} function 0x{function:02X}: exception {code} "
            f"({EXCEPTIONS.get(code, 'unknown')})"
        )


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS; crc16(b"123456789") == 0x4B37."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = crc >> 1 ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(pdu: bytes) -> bytes:
    return pdu + crc16(pdu).to_bytes(2, "little")


def read_request(slave: int, function: int, address: int, count: int) -> bytes:
    if not 1 <= slave <= 247:
        raise ValueError(f"Modbus: slave address {slave} not in 1..247")
    if function not in FUNCTIONS.values():
        raise ValueError(f"Modbus: function 0x{function:02X} is not 0x03 or 0x04")
    if not 0 <= address <= 0xFFFF or not 1 <= count <= MAX_REGISTERS or address + count > 0x10000:
        raise ValueError(f"Modbus: address {address} / count {count} out of range")
    return with_crc(
        bytes([slave, function]) + address.to_bytes(2, "big") + count.to_bytes(2, "big")
    )


class ResponseDecoder:
    """Feed bytes of one response; `feed` returns [registers] once complete.

    Errors (CRC, exception, wrong slave/function/length) go to `errors`; the decoder then
    discards its buffer, since an RTU frame cannot be resynchronised without timing.
    """

    def __init__(self, slave: int, function: int, count: int) -> None:
        self.slave, self.function, self.count = slave, function, count
        self._buf = bytearray()
        self.errors: list[DriverError] = []

    def _expected_length(self) -> int | None:
        if len(self._buf) < 3:
            return None
        return 5 if self._buf[1] & 0x80 else 3 + self._buf[2] + 2

    def feed(self, data: bytes) -> list[tuple[int, ...]]:
        self._buf += data
        size = self._expected_length()
        if size is None or len(self._buf) < size:
            return []
        frame, self._buf = bytes(self._buf[:size]), bytearray()
        try:
            return [self._decode(frame)]
        except DriverError as exc:
            self.errors.append(exc)
            return []

    def _decode(self, frame: bytes) -> tuple[int, ...]:
        if crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
            raise ChecksumError(f"Modbus: CRC error in response {frame.hex()}")
        if frame[0] != self.slave or frame[1] & 0x7F != self.function:
            raise InvalidReading(
                f"Modbus: response from slave {frame[0]} function "
                f"0x{frame[1]:02X}, expected {self.slave}/0x{self.function:02X}"
            )
        if frame[1] & 0x80:
            raise ModbusException(self.slave, self.function, frame[2])
        if frame[2] != 2 * self.count:
            raise InvalidReading(f"Modbus: byte count {frame[2]}, expected {2 * self.count}")
        return tuple(int.from_bytes(frame[i : i + 2], "big") for i in range(3, 3 + frame[2], 2))


@dataclass(frozen=True, slots=True)
class RegisterSpec:
    name: str
    address: int
    type: str = "uint16"
    table: str = "holding"
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0
    word_order: str = "big"

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"Modbus register {self.name}: type must be one of {sorted(TYPES)}")
        if self.table not in FUNCTIONS:
            raise ValueError(f"Modbus register {self.name}: table must be 'holding' or 'input'")
        if self.word_order not in ("big", "little"):
            raise ValueError(f"Modbus register {self.name}: word_order must be big or little")
        if not 0 <= self.address <= 0x10000 - self.size:
            raise ValueError(f"Modbus register {self.name}: address {self.address} out of range")

    @property
    def size(self) -> int:
        return TYPES[self.type][0]

    def decode(self, words: Sequence[int]) -> float | int:
        ordered = words if self.word_order == "big" else list(reversed(words))
        raw = b"".join(w.to_bytes(2, "big") for w in ordered)
        (value,) = struct.unpack(TYPES[self.type][1], raw)
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidReading(f"Modbus register {self.name}: {value} is not a measurement")
        if self.scale == 1 and self.offset == 0:
            return value
        return value * self.scale + self.offset


class ModbusRtu(Driver):
    """Reads each configured register with one request (function 0x03 or 0x04)."""

    def __init__(
        self,
        port: SerialPort,
        *,
        slave: int,
        registers: Sequence[RegisterSpec | Mapping[str, Any]],
        timeout: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= slave <= 247:
            raise ValueError(f"Modbus: slave address {slave} not in 1..247")
        if not registers:
            raise ValueError("Modbus: at least one register")
        self.registers = tuple(
            r if isinstance(r, RegisterSpec) else RegisterSpec(**r) for r in registers
        )
        self.port, self.slave, self.timeout = port, slave, timeout
        self.sleep, self.monotonic = sleep, monotonic
        self.quantities = tuple((r.name, r.unit) for r in self.registers)

    def frame_gap_s(self) -> float:
        """3.5 character times of silence between frames (serial line spec §2.5.1.1)."""
        baud = getattr(self.port, "baudrate", 9600) or 9600
        return max(3.5 * 11 / baud, 0.00175)  # fixed 1.75 ms above 19200 baud

    def read_registers(self, function: int, address: int, count: int) -> tuple[int, ...]:
        self.port.reset_input_buffer()
        self.port.write(read_request(self.slave, function, address, count))
        decoder = ResponseDecoder(self.slave, function, count)
        try:
            frames = collect(
                self.port,
                decoder,
                lambda f: bool(f or decoder.errors),
                timeout=self.timeout,
                what=f"Modbus slave {self.slave}",
                monotonic=self.monotonic,
            )
        finally:
            self.sleep(self.frame_gap_s())
        if decoder.errors:
            raise decoder.errors[-1]  # exception response or CRC error: no need to wait
        return frames[0]

    def read(self) -> list[Reading]:
        out = []
        for r in self.registers:
            words = self.read_registers(FUNCTIONS[r.table], r.address, r.size)
            out.append(Reading(r.name, r.decode(words), r.unit))
        return out
