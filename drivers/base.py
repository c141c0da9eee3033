"""The driver contract: every sensor driver opens, reads and closes; a read returns Readings.

Drivers are blocking and synchronous on purpose: the gateway's scheduler runs `read()` in a worker
thread under a timeout, so a driver never needs to know about asyncio. Each driver is given its bus
(an smbus2-like object, a pyserial port, a gpiozero pin factory, a sysfs path) in its constructor, so
tests hand it a fake that behaves like the hardware. Drivers never import `gateway`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass


class DriverError(Exception):
    """Base of every error a driver raises on purpose."""


class DeviceNotFound(DriverError, OSError):
    """Nothing answers at the configured address / port / pin."""


class ChecksumError(DriverError, ValueError):
    """A frame or measurement failed its CRC or checksum."""


class InvalidReading(DriverError, ValueError):
    """The device answered, but with a value the datasheet says is not a measurement
    (out of range, a power-on default such as the DS18B20's 85 °C, a sensor fault flag)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured quantity.

    `quantity` is a stable snake_case name (``temperature``, ``humidity``, ``pressure``,
    ``illuminance``, ``voltage``, ``current``, ``power``, ``pm2_5`` ...), used in topics and payloads.
    `unit` is the SI-ish unit string Home Assistant understands (``°C``, ``%``, ``hPa``, ``lx``,
    ``V``, ``A``, ``W``, ``µg/m³``), or ``""`` for dimensionless values and states.
    """

    quantity: str
    value: float | int | bool | str
    unit: str = ""


class Driver(abc.ABC):
    """A sensor. `open()` probes and configures it, `read()` measures, `close()` releases it.

    `read()` may block (it runs in a thread); it raises `DriverError` (or `OSError` from the bus)
    when it cannot produce a valid measurement, and never returns a clamped or made-up value.
    """

    #: the quantities this driver reports, with their units, for discovery before the first read
    quantities: tuple[tuple[str, str], ...] = ()

    def open(self) -> None:  # noqa: B027 - most drivers need no set-up
        """Probe and configure the device. Raises DeviceNotFound when nothing answers."""

    @abc.abstractmethod
    def read(self) -> list[Reading]:
        """Take one measurement of every quantity."""

    def close(self) -> None:  # noqa: B027
        """Release the device."""

    def __enter__(self) -> Driver:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
