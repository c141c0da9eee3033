"""A fake LM75 / LM75B / TMP102: the temperature register holds the last conversion, left-justified
two's complement of the chip's width; the TMP102's configuration register has the EM bit."""

from __future__ import annotations

from tests.fakes.i2c import RegisterChip

BITS = {"lm75": (9, 0.5), "lm75b": (11, 0.125), "tmp102": (12, 0.0625)}


class FakeLM75(RegisterChip):
    """A 16-bit register file keyed by pointer: reads return the word MSB first."""

    def __init__(self, chip: str = "lm75", address: int = 0x48) -> None:
        super().__init__(address)
        self.chip = chip
        self.words = {0x00: 0x0000, 0x01: 0x60A0 if chip == "tmp102" else 0x0000}
        self.extended = False
        self._byte = 0

    def set_celsius(self, value: float) -> None:
        bits, lsb = BITS[self.chip]
        if self.chip == "tmp102" and self.extended:
            bits = 13
        self.words[0x00] = (round(value / lsb) & (1 << bits) - 1) << (16 - bits)

    def write(self, data: bytes) -> None:
        self._byte = 0
        if data:
            self.pointer = data[0]
        if len(data) == 3 and self.pointer == 0x01 and self.chip == "tmp102":
            self.words[0x01] = data[1] << 8 | data[2]
            self.extended = bool(data[2] & 0x10)

    def read(self, length: int) -> bytes:
        word = self.words.get(self.pointer, 0).to_bytes(2, "big")
        return (word * (length // 2 + 1))[:length]
