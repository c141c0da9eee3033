"""A fake PCF8574 for tests/fakes/i2c.FakeSMBus, with the datasheet's quasi-bidirectional port.

Every byte written becomes the output latch (a write transaction may carry several bytes; each is
latched in turn, §8.2). A read returns the pin levels: a latch 1 is only a weak pull-up, so a pin
pulled low from outside (`external_low`, a bit mask) reads 0 whatever the latch says; a latch 0
always reads 0. Power-on latch: all ones (§8.3).

`power_off()` makes the chip stop answering (every transaction NAKs); `power_on()` brings it back
with the power-on latch; `brown_out()` is both at once: a reset the bus never saw.
"""

from __future__ import annotations

from tests.fakes.i2c import nak

POWER_ON_LATCH = 0xFF


class FakePCF8574:
    def __init__(self, address: int = 0x20) -> None:
        self.address = address
        self.latch = POWER_ON_LATCH
        self.external_low = 0x00
        self.writes: int = 0
        self.powered = True

    def power_off(self) -> None:
        self.powered = False

    def power_on(self) -> None:
        self.latch = POWER_ON_LATCH
        self.powered = True

    def brown_out(self) -> None:
        self.power_off()
        self.power_on()

    def write(self, data: bytes) -> None:
        if not self.powered:
            raise nak(self.address)
        for byte in data:
            self.latch = byte
            self.writes += 1

    def read(self, length: int) -> bytes:
        if not self.powered:
            raise nak(self.address)
        return bytes([self.pins()] * length)

    def pins(self) -> int:
        return self.latch & ~self.external_low & 0xFF

    def level(self, pin: int) -> bool:
        return bool(self.pins() >> pin & 1)
