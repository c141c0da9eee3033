"""A fake MCP9808: 16-bit registers read MSB first, the IDs of §5.1.4/5.1.5, the resolution
register (one byte), and T_A with alert flags above the sign bit."""

from __future__ import annotations

from tests.fakes.i2c import RegisterChip


class FakeMCP9808(RegisterChip):
    def __init__(self, address: int = 0x18) -> None:
        super().__init__(address)
        self.words = {0x05: 0x0000, 0x06: 0x0054, 0x07: 0x0400, 0x08: 0x03}
        self.flags = 0  # bits 15..13 of T_A

    def set_celsius(self, value: float) -> None:
        resolution = (0.5, 0.25, 0.125, 0.0625)[self.words[0x08]]
        sixteenths = round(round(value / resolution) * resolution * 16)
        self.words[0x05] = sixteenths & 0x1FFF

    def write(self, data: bytes) -> None:
        if data:
            self.pointer = data[0]
        if self.pointer == 0x08 and len(data) == 2:
            self.words[0x08] = data[1] & 0x03

    def read(self, length: int) -> bytes:
        if self.pointer == 0x08:
            return bytes([self.words[0x08]])[:length]
        word = self.words.get(self.pointer, 0)
        if self.pointer == 0x05:
            word |= self.flags << 13
        return word.to_bytes(2, "big")[:length]
