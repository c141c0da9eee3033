"""Maxim MAX31855 cold-junction compensated thermocouple-to-digital converter (datasheet 19-5793).

Read-only SPI (mode 0, up to 5 MHz): one 32-bit read (§"Serial Interface", table 2 memory map).
Bits 31..18: thermocouple temperature, 14-bit two's complement, 0.25 °C per LSB; bit 16: fault;
bits 15..4: internal (cold-junction) temperature, 12-bit two's complement, 0.0625 °C; bit 2 SCV
(short to VCC), bit 1 SCG (short to GND), bit 0 OC (open circuit). Bits 17 and 3 are reserved 0.
Table 4 (thermocouple): +1600.00 °C = 0x1900, +100.75 = 0x0193, -0.25 = 0x3FFF, -250.00 = 0x3C18;
table 5 (internal): +127.0000 = 0x7F0, +100.5625 = 0x649, -0.0625 = 0xFFF, -55.0000 = 0xC90.
A fault is a failed read naming its cause; all 32 bits high means nothing drives MISO.
"""

from __future__ import annotations

from drivers.base import DeviceNotFound, Driver, InvalidReading, Reading
from drivers.bus.spi import SpiLike, configure

FAULTS = {
    0x4: "thermocouple shorted to VCC",
    0x2: "thermocouple shorted to GND",
    0x1: "thermocouple open (not connected)",
}
SPEED_HZ = 5_000_000


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & 1 << (bits - 1) else value


def decode(word: int) -> tuple[float, float]:
    """32-bit frame -> (thermocouple °C, internal °C); faults raise."""
    if word == 0xFFFFFFFF:
        raise DeviceNotFound("MAX31855: all ones: nothing drives MISO (wiring, chip select, power)")
    if word & 0x00020008:
        raise InvalidReading(f"MAX31855: reserved bits set in 0x{word:08X}: not a MAX31855 frame")
    if word & 0x10000:
        causes = [text for bit, text in FAULTS.items() if word & bit] or ["fault bit set"]
        raise InvalidReading(f"MAX31855: {', '.join(causes)}")
    hot = _signed(word >> 18, 14) * 0.25
    cold = _signed(word >> 4 & 0xFFF, 12) * 0.0625
    return hot, cold


class MAX31855(Driver):
    quantities = (("temperature", "°C"), ("internal_temperature", "°C"))

    def __init__(self, spi: SpiLike, *, max_speed_hz: int = SPEED_HZ) -> None:
        self.spi, self.speed = spi, max_speed_hz

    def open(self) -> None:
        configure(self.spi, 0, self.speed)

    def read(self) -> list[Reading]:
        word = int.from_bytes(bytes(self.spi.xfer2([0, 0, 0, 0])), "big")
        hot, cold = decode(word)
        return [Reading("temperature", hot, "°C"), Reading("internal_temperature", cold, "°C")]
