"""Plantower PMS5003 particulate sensor (datasheet "PMS5003 series data manual" v2.3).

Frames are 32 bytes (Appendix I): 0x42 0x4D, frame length = 2×13+2 = 28 (big-endian), thirteen
16-bit data words, then a 16-bit check code = sum of all preceding bytes. Data 1-3 are PM1.0 /
PM2.5 / PM10 "CF=1, standard particle", data 4-6 the same under atmospheric environment (µg/m³).
`Pms5003Decoder` (sans-IO) finds the start characters, checks the length and the checksum, and on
a bad frame drops one byte and searches again, so a real frame behind garbage is still found.
Command replies (length 4, 8 bytes) are skipped. In passive mode the driver asks for each frame
with the "read in passive mode" command (Appendix II: 0xE2); in active mode it reads the stream
and keeps the newest frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import ChecksumError, Driver, DriverError, InvalidReading, Reading
from drivers.serial.stream import SerialPort, collect, latest, record

START = b"\x42\x4d"
FRAME_LEN, DATA_LEN = 32, 28
REPLY_LEN, REPLY_DATA_LEN = 8, 4
UNIT = "µg/m³"


def command(cmd: int, data: int = 0) -> bytes:
    """Host command (Appendix II): 42 4D CMD DATAH DATAL LRCH LRCL, LRC = sum of the 5 bytes."""
    body = START + bytes([cmd, data >> 8, data & 0xFF])
    return body + (sum(body) & 0xFFFF).to_bytes(2, "big")


CMD_READ_PASSIVE = command(0xE2)
CMD_MODE_PASSIVE = command(0xE1, 0)
CMD_MODE_ACTIVE = command(0xE1, 1)


@dataclass(frozen=True, slots=True)
class PmsFrame:
    pm1_0_standard: int
    pm2_5_standard: int
    pm10_standard: int
    pm1_0: int  # atmospheric environment
    pm2_5: int
    pm10: int
    counts: tuple[int, ...]  # particles > 0.3, 0.5, 1.0, 2.5, 5.0, 10 µm per 0.1 L


def parse_frame(frame: bytes) -> PmsFrame:
    """A complete 32-byte frame -> values; ChecksumError when the check code is wrong."""
    given = int.from_bytes(frame[30:32], "big")
    if sum(frame[:30]) & 0xFFFF != given:
        raise ChecksumError(f"PMS5003: check code {given:04X} != {sum(frame[:30]):04X}")
    words = [int.from_bytes(frame[i : i + 2], "big") for i in range(4, 30, 2)]
    pm1_0_std, pm2_5_std, pm10_std, pm1_0, pm2_5, pm10 = words[:6]
    return PmsFrame(pm1_0_std, pm2_5_std, pm10_std, pm1_0, pm2_5, pm10, tuple(words[6:12]))


class Pms5003Decoder:
    def __init__(self) -> None:
        self._buf = bytearray()
        self.errors: list[DriverError] = []

    def feed(self, data: bytes) -> list[PmsFrame]:
        self._buf += data
        out: list[PmsFrame] = []
        while self._step(out):
            pass
        return out

    def _step(self, out: list[PmsFrame]) -> bool:
        """Consume one frame (or one bad byte); False when more data is needed."""
        start = self._buf.find(START)
        if start < 0:
            del self._buf[: -1 if self._buf.endswith(START[:1]) else len(self._buf)]
            return False
        del self._buf[:start]
        if len(self._buf) < 4:
            return False
        length = int.from_bytes(self._buf[2:4], "big")
        size = {DATA_LEN: FRAME_LEN, REPLY_DATA_LEN: REPLY_LEN}.get(length)
        if size is None:
            record(self.errors, InvalidReading(f"PMS5003: frame length {length} is not 28"))
            del self._buf[:1]
            return True
        if len(self._buf) < size:
            return False
        frame = bytes(self._buf[:size])
        if size == REPLY_LEN:
            del self._buf[:size]  # a command reply: not data
            return True
        try:
            out.append(parse_frame(frame))
            del self._buf[:size]
        except ChecksumError as exc:
            record(self.errors, exc)
            del self._buf[:1]  # resync inside the bad frame
        return True


class Pms5003(Driver):
    quantities = (
        ("pm1_0", UNIT),
        ("pm2_5", UNIT),
        ("pm10", UNIT),
        ("pm1_0_standard", UNIT),
        ("pm2_5_standard", UNIT),
        ("pm10_standard", UNIT),
    )

    def __init__(
        self,
        port: SerialPort,
        *,
        mode: str = "active",
        timeout: float = 3.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("active", "passive"):
            raise ValueError("PMS5003: mode must be 'active' or 'passive'")
        if timeout <= 0:
            raise ValueError("PMS5003: timeout must be positive")
        self.port, self.mode, self.timeout, self.monotonic = port, mode, timeout, monotonic
        self.decoder = Pms5003Decoder()

    def open(self) -> None:
        self.port.write(CMD_MODE_PASSIVE if self.mode == "passive" else CMD_MODE_ACTIVE)

    def read(self) -> list[Reading]:
        if self.mode == "passive":
            self.port.reset_input_buffer()
            self.port.write(CMD_READ_PASSIVE)
        frames = collect(
            self.port,
            self.decoder,
            lambda f: latest(f, self.port),
            timeout=self.timeout,
            what="PMS5003",
            monotonic=self.monotonic,
        )
        f = frames[-1]
        return [Reading(q, getattr(f, q), UNIT) for q, _ in self.quantities]
