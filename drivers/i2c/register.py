"""A generic register-read driver for simple I2C chips, declared entirely in config.

`value = int.from_bytes(bytes read from <register>, byte_order, signed) × scale + offset`,
reported as one Reading (`quantity`, `unit`). `valid_range` (min, max) makes out-of-range values
raise. Good for chips whose datasheet says "read N bytes at register R" and nothing else; chips
that need a conversion started, a calibration or a CRC deserve their own module.
"""

from __future__ import annotations

import re
from typing import Literal

from drivers.base import Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, missing_as_not_found

QUANTITY = re.compile(r"^[a-z][a-z0-9_]*$")


class RegisterSensor(Driver):
    def __init__(
        self,
        bus: SMBusLike,
        address: int,
        *,
        register: int,
        quantity: str,
        unit: str = "",
        length: int = 2,
        byte_order: Literal["big", "little"] = "big",
        signed: bool = False,
        scale: float = 1.0,
        offset: float = 0.0,
        valid_range: tuple[float, float] | None = None,
    ) -> None:
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"register: I2C address 0x{address:02X} is not a 7-bit device address")
        if not 0 <= register <= 0xFF:
            raise ValueError(f"register: register {register} is not 0..255")
        if not 1 <= length <= 32:
            raise ValueError("register: length must be 1..32 bytes (SMBus block limit)")
        if byte_order not in ("big", "little"):
            raise ValueError("register: byte_order must be 'big' or 'little'")
        if not QUANTITY.match(quantity):
            raise ValueError(f"register: quantity {quantity!r} must be snake_case")
        if valid_range is not None and valid_range[0] > valid_range[1]:
            raise ValueError("register: valid_range must be (min, max)")
        self.bus, self.address, self.register, self.length = bus, address, register, length
        self.byte_order, self.signed = byte_order, signed
        self.scale, self.offset, self.valid_range = scale, offset, valid_range
        self.quantity, self.unit = quantity, unit
        self.quantities = ((quantity, unit),)

    def decode(self, data: bytes) -> float:
        value = int.from_bytes(data, self.byte_order, signed=self.signed) * self.scale + self.offset
        if self.valid_range and not self.valid_range[0] <= value <= self.valid_range[1]:
            raise InvalidReading(
                f"register 0x{self.register:02X}@0x{self.address:02X}: "
                f"{value} outside {self.valid_range[0]}..{self.valid_range[1]}"
            )
        return value

    def open(self) -> None:
        with missing_as_not_found(self.address, "register"):
            self.bus.read_i2c_block_data(self.address, self.register, self.length)

    def read(self) -> list[Reading]:
        data = bytes(self.bus.read_i2c_block_data(self.address, self.register, self.length))
        return [Reading(self.quantity, self.decode(data), self.unit)]
