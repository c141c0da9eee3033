"""Microchip MCP3008 (10 bit) and MCP3208 (12 bit) 8-channel SPI ADCs (datasheets DS21295,
DS21298).

One conversion is one 3-byte transfer in SPI mode 0 (§6.1, figures 6-1):
MCP3008: [0x01, SGL/DIFF D2 D1 D0 << 4, 0x00], result = (byte1 & 0x03) << 8 | byte2;
MCP3208: [0x04 | SGL/DIFF << 1 | D2, D1 D0 << 6, 0x00], result = (byte1 & 0x0F) << 8 | byte2.
The bit before the result's MSB is a null bit, always 0 (figure 6-1): a 1 there means nothing
drives MISO (no chip, a floating line reads all ones), which is reported as not found. Channel
select (table 5-2): single-ended "0".."7"; differential pairs "0-1" (CH0 = IN+), "1-0", "2-3",
"3-2", "4-5", "5-4", "6-7", "7-6". Voltage = code × Vref / 2^bits; a code at full scale cannot say
how far above Vref the input is, so it is a failed read (never clamp).
"""

from __future__ import annotations

from collections.abc import Sequence

from drivers.base import DeviceNotFound, Driver, InvalidReading, Reading
from drivers.bus.spi import SpiLike, configure

#: channel name -> (single-ended, D2 D1 D0) (table 5-2)
CHANNELS = {
    **{str(n): (True, n) for n in range(8)},
    **{f"{a}-{b}": (False, a) for a, b in ((0, 1), (2, 3), (4, 5), (6, 7))},
    **{f"{b}-{a}": (False, b) for a, b in ((0, 1), (2, 3), (4, 5), (6, 7))},
}
SPEED_HZ = {"mcp3008": 1_350_000, "mcp3208": 1_000_000}  # at 2.7 V (tables 1-1)
BITS = {"mcp3008": 10, "mcp3208": 12}


def request(chip: str, channel: str) -> list[int]:
    single, d = CHANNELS[channel]
    if chip == "mcp3008":
        return [0x01, (single << 7 | d << 4) & 0xF0, 0x00]
    return [0x04 | single << 1 | d >> 2, (d & 0x03) << 6, 0x00]


def decode(chip: str, response: Sequence[int]) -> int:
    bits = BITS[chip]
    null_bit = 1 << (bits - 8)  # just above the result's MSB in byte 1
    if response[1] & null_bit:
        raise DeviceNotFound(
            f"{chip.upper()}: the null bit is 1: nothing drives MISO "
            f"(check wiring, chip select and power)"
        )
    return (response[1] & (null_bit - 1)) << 8 | response[2]


class MCP3008(Driver):
    chip = "mcp3008"

    def __init__(
        self,
        spi: SpiLike,
        *,
        channels: Sequence[str] = ("0",),
        vref: float = 3.3,
        max_speed_hz: int | None = None,
    ) -> None:
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown or not channels:
            raise ValueError(
                f"{self.chip.upper()}: channels must be among {sorted(CHANNELS)}, "
                f"not {unknown or 'none'}"
            )
        if not 0 < vref <= 5.5:
            raise ValueError(f"{self.chip.upper()}: vref must be 0..5.5 V")
        self.spi, self.channels, self.vref = spi, tuple(channels), vref
        self.speed = max_speed_hz or SPEED_HZ[self.chip]
        self.full_scale = (1 << BITS[self.chip]) - 1
        self.quantities = tuple((self.quantity(c), "V") for c in self.channels)

    @staticmethod
    def quantity(channel: str) -> str:
        return "voltage_" + channel.replace("-", "_")

    def open(self) -> None:
        configure(self.spi, 0, self.speed)

    def read(self) -> list[Reading]:
        out = []
        for channel in self.channels:
            code = decode(self.chip, self.spi.xfer2(request(self.chip, channel)))
            if code >= self.full_scale:
                raise InvalidReading(
                    f"{self.chip.upper()} channel {channel}: at full scale "
                    f"(input at or above Vref {self.vref} V)"
                )
            out.append(
                Reading(self.quantity(channel), code * self.vref / (self.full_scale + 1), "V")
            )
        return out


class MCP3208(MCP3008):
    chip = "mcp3208"
