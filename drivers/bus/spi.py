"""The SPI seam: the subset of py-spidev's `SpiDev` that drivers use.

On a Pi it is `spidev.SpiDev()` opened on `/dev/spidev<bus>.<device>` (enable it with
`dtparam=spi=on`; bus 0 has chip selects CE0 = GPIO 8 and CE1 = GPIO 7); in tests it is
`tests.fakes.spi.FakeSpiDev`, which hands each transfer to a fake chip. A driver sets the mode and
the clock it needs in its own `open()` (py-spidev accepts them only on an open device), then
talks with `xfer2` (one transfer with chip select held low for the whole list of bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class SpiLike(Protocol):
    mode: int
    max_speed_hz: int

    def xfer2(self, data: Sequence[int]) -> list[int]: ...
    def close(self) -> None: ...


def configure(spi: SpiLike, mode: int, max_speed_hz: int) -> None:
    """Set the SPI mode (0..3) and the clock; call from a driver's open()."""
    spi.mode = mode
    spi.max_speed_hz = max_speed_hz
