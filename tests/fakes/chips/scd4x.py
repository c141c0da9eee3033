"""A fake SCD4x: 16-bit commands with CRC-checked arguments, execution times during which reads
NAK, the periodic mode (a sample every 5 s of the fake clock; only three commands allowed while it
runs), the data-ready word, serial number, forced recalibration and the SCD41's measure_single_shot
(5 s from idle; `model = "scd40"` NAKs it as an SCD40 does not know it)."""

from __future__ import annotations

from drivers.i2c.sensirion import crc8
from tests.fakes.chips.sht3x import with_crc
from tests.fakes.i2c import FakeClock, nak

EXEC_S = {
    0x21B1: 0.0,
    0xEC05: 0.001,
    0x3F86: 0.5,
    0xE4B8: 0.001,
    0x3682: 0.001,
    0x2416: 0.001,
    0x2427: 0.001,
    0x362F: 0.4,
    0x219D: 5.0,
}
ALLOWED_WHILE_RUNNING = {0xEC05, 0xE4B8, 0x3F86}


class FakeSCD4x:
    def __init__(
        self, clock: FakeClock, serial: int = 0x1234_5678_9ABC, model: str = "scd41"
    ) -> None:
        self.clock, self.address, self.serial, self.model = clock, 0x62, serial, model
        self.single_shot_at: float | None = None
        self.co2, self.temperature, self.humidity = 612, 24.0, 41.0
        self.raw: tuple[int, int, int] | None = None
        self.running_since: float | None = None
        self.samples_read = 0
        self.asc, self.altitude = True, 0
        self.minutes_measured_before_frc = 3.0
        self.frc_offset = 0
        self.corrupt_crc = False
        self._out = b""
        self._ready_at: float | None = None
        self.commands: list[int] = []

    def _samples_made(self) -> int:
        if self.running_since is None:
            return 0
        return int((self.clock.now - self.running_since) // 5.0)

    def _measurement(self) -> bytes:
        raw = self.raw or (
            self.co2,
            round((self.temperature + 45) / 175 * 65536),
            round(self.humidity / 100 * 65536),
        )
        return with_crc(*raw, corrupt=self.corrupt_crc)

    def write(self, data: bytes) -> None:
        if len(data) < 2:
            raise nak(self.address)
        cmd, args = data[0] << 8 | data[1], data[2:]
        if cmd not in EXEC_S or len(args) % 3:
            raise nak(self.address)
        if self.running_since is not None and cmd not in ALLOWED_WHILE_RUNNING:
            raise nak(self.address)  # §3.5: not allowed while measuring
        if cmd == 0x219D and self.model != "scd41":
            raise nak(self.address)
        words = []
        for i in range(0, len(args), 3):
            if crc8(args[i : i + 2]) != args[i + 2]:
                raise nak(self.address)  # a bad argument CRC is not executed
            words.append(int.from_bytes(args[i : i + 2], "big"))
        self.commands.append(cmd)
        self._ready_at, self._out = self.clock.now + EXEC_S[cmd], b""
        if cmd == 0x21B1:
            self.running_since = self.clock.now
            self.samples_read = 0
        elif cmd == 0x3F86:
            self.running_since = None
        elif cmd == 0x3682:
            self._out = with_crc(
                self.serial >> 32, self.serial >> 16 & 0xFFFF, self.serial & 0xFFFF
            )
        elif cmd == 0x219D:
            self.single_shot_at = self.clock.now + 5.0
        elif cmd == 0xE4B8:
            shot = self.single_shot_at is not None and self.clock.now >= self.single_shot_at
            ready = shot or self._samples_made() > self.samples_read
            self._out = with_crc(0x8006 if ready else 0x8000)
        elif cmd == 0xEC05:
            self._out = self._measurement()
            self.samples_read = self._samples_made()
            self.single_shot_at = None
        elif cmd == 0x2416:
            self.asc = bool(words[0])
        elif cmd == 0x2427:
            self.altitude = words[0]
        elif cmd == 0x362F:
            ok = self.minutes_measured_before_frc >= 3
            self._out = with_crc(0x8000 + words[0] - self.co2 if ok else 0xFFFF)

    def read(self, length: int) -> bytes:
        if self._ready_at is None or self.clock.now < self._ready_at or not self._out:
            raise nak(self.address)
        out, self._out = self._out, b""
        return (out + b"\xff" * length)[:length]
