"""LM75-family temperature sensors: LM75 / LM75A (9 bit), NXP LM75B (11 bit), TI TMP102 (12/13 bit).

All keep the temperature in register 0x00 as a left-justified two's-complement word, MSB first,
and a configuration register at 0x01:

* LM75 (National/TI LM75A datasheet, table "Temperature-to-Digital Output"): 9 bits, 0.5 °C per
  LSB: +125 °C = 0x0FA, +25 = 0x032, -0.5 = 0x1FF, -55 = 0x192.
* LM75B (NXP LM75B datasheet §7.4.3, table 10): 11 bits, 0.125 °C: +125 °C = 0x3E8,
  +25 = 0x0C8, -0.125 = 0x7FF, -55 = 0x648.
* TMP102 (TI SBOS397 §7.5.1, tables 8 and 9): 12 bits, 0.0625 °C (+25 °C = 0x190, -55 = 0xC90);
  13 bits when the EM bit (configuration byte 2, bit 4) is set, for readings up to +150 °C.

The chips convert continuously; a read returns the last conversion. The datasheets' ranges are
-55..+125 °C (TMP102 extended mode up to +150 °C); a value outside is a failed read.
"""

from __future__ import annotations

from drivers.base import Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

REG_TEMP, REG_CONFIG = 0x00, 0x01
LM75_ADDRESSES = tuple(range(0x48, 0x50))
#: chip -> (bits, °C per LSB, allowed addresses)
CHIPS = {
    "lm75": (9, 0.5, LM75_ADDRESSES),
    "lm75b": (11, 0.125, LM75_ADDRESSES),
    "tmp102": (12, 0.0625, (0x48, 0x49, 0x4A, 0x4B)),
}
TMP102_EM = 0x10  # extended mode, in the second configuration byte
RANGE_C = {"lm75": (-55.0, 125.0), "lm75b": (-55.0, 125.0), "tmp102": (-55.0, 150.0)}


def decode(word: int, bits: int, lsb: float) -> float:
    """A 16-bit register word (MSB first) -> °C: the top `bits` bits, two's complement."""
    value = word >> (16 - bits)
    if value & 1 << (bits - 1):
        value -= 1 << bits
    return value * lsb


class LM75(Driver):
    quantities = (("temperature", "°C"),)

    def __init__(self, bus: SMBusLike, address: int = 0x48, *, chip: str = "lm75") -> None:
        if chip not in CHIPS:
            raise ValueError(f"LM75: chip must be one of {sorted(CHIPS)}")
        self.bits, self.lsb, addresses = CHIPS[chip]
        self.bus, self.chip = bus, chip
        self.address = check_address(address, addresses, chip.upper())

    def _word(self, register: int) -> int:
        return int.from_bytes(bytes(self.bus.read_i2c_block_data(self.address, register, 2)), "big")

    def open(self) -> None:
        with missing_as_not_found(self.address, self.chip.upper()):
            config = self._word(REG_CONFIG) if self.chip == "tmp102" else 0
        if self.chip == "tmp102":
            self.bits = 13 if config & TMP102_EM else 12

    def read(self) -> list[Reading]:
        value = decode(self._word(REG_TEMP), self.bits, self.lsb)
        low, high = RANGE_C[self.chip]
        if not low <= value <= high:
            raise InvalidReading(
                f"{self.chip.upper()}: temperature {value:g} °C outside {low:g}..{high:g} °C"
            )
        return [Reading("temperature", value, "°C")]
