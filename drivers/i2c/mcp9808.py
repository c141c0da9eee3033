"""Microchip MCP9808 ±0.5 °C digital temperature sensor (datasheet DS20005095B).

Registers (§5.1, table 5-1): 0x05 ambient temperature T_A, 0x06 manufacturer ID (0x0054),
0x07 device ID / revision (0x04xx), 0x08 resolution (one byte: 0..3 = 0.5, 0.25, 0.125, 0.0625 °C,
conversion 30, 65, 130, 250 ms, table 5-3... §5.2.4). T_A (§5.1.3, register 5-4): bits 15..13 are
the alert flags (T_A ≥ T_CRIT, > T_UPPER, < T_LOWER), bit 12 the sign, bits 11..0 the magnitude in
1/16 °C: a 13-bit two's-complement value of 0.0625 °C per LSB (equation 5-1). The sensor converts
continuously; a read returns the last conversion. Rated range -40..+125 °C.
"""

from __future__ import annotations

from drivers.base import DeviceNotFound, Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

ADDRESSES = tuple(range(0x18, 0x20))
REG_TA, REG_MANUFACTURER, REG_DEVICE, REG_RESOLUTION = 0x05, 0x06, 0x07, 0x08
MANUFACTURER_ID, DEVICE_ID = 0x0054, 0x04
RESOLUTIONS = {0.5: 0, 0.25: 1, 0.125: 2, 0.0625: 3}
RANGE_C = (-40.0, 125.0)


def decode(word: int) -> float:
    """T_A register -> °C (equation 5-1): drop the alert flags, 13-bit two's complement / 16."""
    value = word & 0x1FFF
    if value & 0x1000:
        value -= 0x2000
    return value / 16


class MCP9808(Driver):
    quantities = (("temperature", "°C"),)

    def __init__(self, bus: SMBusLike, address: int = 0x18, *, resolution: float = 0.0625) -> None:
        if resolution not in RESOLUTIONS:
            raise ValueError(f"MCP9808: resolution must be one of {sorted(RESOLUTIONS)} °C")
        self.bus, self.address = bus, check_address(address, ADDRESSES, "MCP9808")
        self.resolution = resolution

    def _word(self, register: int) -> int:
        return int.from_bytes(bytes(self.bus.read_i2c_block_data(self.address, register, 2)), "big")

    def open(self) -> None:
        with missing_as_not_found(self.address, "MCP9808"):
            manufacturer = self._word(REG_MANUFACTURER)
        device = self._word(REG_DEVICE) >> 8
        if manufacturer != MANUFACTURER_ID or device != DEVICE_ID:
            raise DeviceNotFound(
                f"MCP9808: at 0x{self.address:02X} manufacturer 0x{manufacturer:04X} "
                f"device 0x{device:02X}, expected 0x0054 / 0x04: another chip"
            )
        self.bus.write_byte_data(self.address, REG_RESOLUTION, RESOLUTIONS[self.resolution])

    def read(self) -> list[Reading]:
        value = decode(self._word(REG_TA))
        if not RANGE_C[0] <= value <= RANGE_C[1]:
            raise InvalidReading(f"MCP9808: temperature {value:g} °C outside -40..125 °C")
        step = self.resolution
        return [Reading("temperature", round(value / step) * step, "°C")]
