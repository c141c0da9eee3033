"""What Sensirion's humidity sensors share: the CRC-8 and the 6-byte word+CRC response format."""

from __future__ import annotations

from collections.abc import Callable

from drivers.base import ChecksumError
from drivers.bus.i2c import NO_ACK_ERRNOS, SMBusLike, read_raw

CRC8_POLY = 0x31  # x^8 + x^5 + x^4 + 1 (SHT3x datasheet §4.12, SHT4x §4.4)
CRC8_INIT = 0xFF
RETRY_S = 0.001
RETRIES = 5


def crc8(data: bytes) -> int:
    """Sensirion CRC-8: poly 0x31, init 0xFF, no reflection, no final XOR; crc8(0xBEEF) == 0x92."""
    crc = CRC8_INIT
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc << 1 ^ CRC8_POLY) & 0xFF if crc & 0x80 else crc << 1 & 0xFF
    return crc


def split_words(data: bytes, chip: str) -> list[int]:
    """Check each [msb, lsb, crc] triple and return the 16-bit words."""
    if len(data) % 3:
        raise ValueError(f"{chip}: response length {len(data)} is not a multiple of 3")
    words = []
    for i in range(0, len(data), 3):
        word, crc = data[i : i + 2], data[i + 2]
        if crc8(word) != crc:
            raise ChecksumError(f"{chip}: CRC 0x{crc:02X} != 0x{crc8(word):02X} for {word.hex()}")
        words.append(int.from_bytes(word, "big"))
    return words


def read_when_ready(
    bus: SMBusLike, address: int, length: int, sleep: Callable[[float], None]
) -> bytes:
    """Read a response; a NAK means "still measuring" (SHT3x §4.3, SHT4x §4.2), so retry."""
    for attempt in range(RETRIES):
        try:
            return read_raw(bus, address, length)
        except OSError as exc:
            if exc.errno not in NO_ACK_ERRNOS or attempt == RETRIES - 1:
                raise
            sleep(RETRY_S)
    raise AssertionError("unreachable")
