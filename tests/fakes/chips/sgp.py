"""Fakes of the SGP40 and SGP30: Sensirion command framing with CRC-checked arguments, execution
times during which reads NAK, the SGP40's self-test and raw signal (which drops as VOCs rise and
records the compensation words it was sent), the SGP30's init, 15 s of fixed 400/0 values, its
feature set and absolute humidity setting."""

from __future__ import annotations

from drivers.i2c.sensirion import crc8
from tests.fakes.chips.sht3x import with_crc
from tests.fakes.i2c import FakeClock, nak

EXEC_S = {
    0x3682: 0.001,
    0x260F: 0.030,
    0x280E: 0.320,
    0x3615: 0.001,
    0x2003: 0.010,
    0x2008: 0.012,
    0x2061: 0.010,
    0x202F: 0.010,
}


class FakeSGP:
    def __init__(self, clock: FakeClock, chip: str = "sgp40") -> None:
        self.clock, self.chip = clock, chip
        self.address = 0x59 if chip == "sgp40" else 0x58
        self.sraw = 30000
        self.self_test = 0xD400
        self.eco2, self.tvoc = 612, 87
        self.features = 0x0022
        self.initialised_at: float | None = None
        self.compensation: list[tuple[int, ...]] = []  # argument words of each measurement
        self.absolute_humidity: int | None = None
        self.heater_off = False
        self._out = b""
        self._ready_at: float | None = None

    def write(self, data: bytes) -> None:
        cmd, args = data[0] << 8 | data[1], data[2:]
        if cmd not in EXEC_S or len(args) % 3:
            raise nak(self.address)
        words = []
        for i in range(0, len(args), 3):
            if crc8(args[i : i + 2]) != args[i + 2]:
                raise nak(self.address)
            words.append(int.from_bytes(args[i : i + 2], "big"))
        self._ready_at, self._out = self.clock.now + EXEC_S[cmd], b""
        if cmd == 0x3682:
            self._out = with_crc(0x0000, 0x0123, 0x4567)
        elif cmd == 0x260F and self.chip == "sgp40":
            self.compensation.append(tuple(words))
            self.heater_off = False
            self._out = with_crc(self.sraw)
        elif cmd == 0x280E and self.chip == "sgp40":
            self._out = with_crc(self.self_test)
        elif cmd == 0x3615:
            self.heater_off = True
        elif cmd == 0x2003 and self.chip == "sgp30":
            self.initialised_at = self.clock.now
        elif cmd == 0x2008 and self.chip == "sgp30":
            warm = self.initialised_at is not None and self.clock.now - self.initialised_at >= 15
            self._out = with_crc(self.eco2, self.tvoc) if warm else with_crc(400, 0)
        elif cmd == 0x2061 and self.chip == "sgp30":
            self.absolute_humidity = words[0]
        elif cmd == 0x202F and self.chip == "sgp30":
            self._out = with_crc(self.features)
        else:
            raise nak(self.address)

    def read(self, length: int) -> bytes:
        if self._ready_at is None or self.clock.now < self._ready_at or not self._out:
            raise nak(self.address)
        out, self._out = self._out, b""
        return (out + b"\xff" * length)[:length]
