"""The buses and ports that sensors share, and how they are opened, lost and opened again.

How it works. Building a sensor only *creates* its I2C bus or serial port object, closed:
`smbus2.SMBus()` and `serial.serial_for_url(port, do_not_open=True)`. A wrong option, an unknown
URL scheme or a missing library fails there, at start-up, as a config error. Opening is hardware,
and hardware may be absent (I2C not enabled, a USB-serial adapter unplugged), so it happens in the
sensor's own attempts, in its worker thread under the device's lock: `ensure_open()` opens a closed
device *in place* (the drivers keep their reference) and raises `DeviceUnavailable` when the kernel
says no. The scheduler treats that like a failed read that needs no confirmation: the sensor is
offline at once and retried with its backoff, and the rest of the gateway runs on.

A device that fails at run time is closed with `reset()` (a serial port that raised an OSError, an
I2C bus whose sensors keep failing); the next attempt of each of its sensors opens it again by the
same path. Every successful open bumps `generation`: a driver opened on an older generation runs its
own `open()` (chip init, sensor mode) again before it reads.

What a reopen of an I2C bus can and cannot clear is in drivers.bus.i2c.recover_bus.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import GatewayError

log = logging.getLogger(__name__)


class DeviceUnavailable(GatewayError, OSError):
    """A bus or port that cannot be opened: absent hardware, not a config error."""


@dataclass(eq=False)
class SharedDevice:
    """One bus or port, shared by the sensors on it; its methods block (call them in a thread,
    holding `lock`, which is also what keeps the sensors' transactions from interleaving)."""

    key: str  # "i2c:1", "serial:/dev/ttyUSB0": sensors with one key share it
    path: str  # what the kernel is asked to open, for messages
    handle: Any  # what the drivers hold: an smbus2.SMBus, a pyserial port
    opener: Callable[[], None]  # opens `handle` in place
    lock: threading.Lock = field(default_factory=threading.Lock)
    is_open: bool = False
    generation: int = 0  # +1 at every successful open

    def ensure_open(self) -> int:
        """Open the device if it is closed; return its generation."""
        if not self.is_open:
            try:
                self.opener()
            except OSError as exc:  # FileNotFoundError, PermissionError, serial.SerialException
                raise DeviceUnavailable(f"cannot open {self.path}: {_reason(exc)}") from exc
            self.is_open = True
            self.generation += 1
        return self.generation

    def reset(self) -> None:
        """Close the device; the next ensure_open() opens it again."""
        if not self.is_open:
            return
        self.is_open = False
        try:
            self.handle.close()
        except OSError as exc:
            log.warning("%s: closing failed: %s", self.path, exc)


def _reason(exc: OSError) -> str:
    """The kernel's answer, without the path again: pyserial wraps the OSError of os.open in a
    SerialException whose text repeats the port name twice."""
    while isinstance(exc.__context__, OSError):
        exc = exc.__context__
    if exc.errno is not None and exc.strerror:
        return f"[Errno {exc.errno}] {exc.strerror}"
    return str(exc)


def _new_i2c() -> Any:
    import smbus2

    return smbus2.SMBus()  # closed until open(number)


def _new_serial(port: str, baudrate: int) -> Any:
    import serial

    return serial.serial_for_url(port, baudrate=baudrate, timeout=1.0, do_not_open=True)


def _new_spi() -> Any:
    import spidev

    return spidev.SpiDev()  # closed until open(bus, device)


def _gpio_factory() -> Any:
    from drivers.bus.gpio import default_factory

    return default_factory()


class Resources:
    """The shared buses and ports (created once, closed once) and the GPIO pin factory.

    `new_i2c()` returns a closed smbus2-like bus with `open(number)` and `close()`;
    `new_serial(port, baudrate)` a closed pyserial-like port with `open()` and `close()`;
    `new_spi()` a closed py-spidev-like device with `open(bus, device)` and `close()`.
    Tests inject fakes (tests.fakes.i2c.FakeSMBus) or real ports on a pty."""

    def __init__(
        self,
        *,
        pin_factory: Any = None,
        new_i2c: Callable[[], Any] = _new_i2c,
        new_serial: Callable[[str, int], Any] = _new_serial,
        new_spi: Callable[[], Any] = _new_spi,
    ) -> None:
        self._pin_factory = pin_factory
        self._new_i2c, self._new_serial, self._new_spi = new_i2c, new_serial, new_spi
        self._devices: dict[str, SharedDevice] = {}

    def i2c(self, number: int) -> SharedDevice:
        key = f"i2c:{number}"
        if key not in self._devices:
            bus = self._new_i2c()
            self._devices[key] = SharedDevice(
                key, f"/dev/i2c-{number}", bus, lambda: bus.open(number)
            )
        return self._devices[key]

    def serial(self, port: str, baudrate: int) -> SharedDevice:
        key = f"serial:{port}"
        if key not in self._devices:
            handle = self._new_serial(port, baudrate)
            self._devices[key] = SharedDevice(key, port, handle, handle.open)
        return self._devices[key]

    def spi(self, bus: int, chip_select: int) -> SharedDevice:
        key = f"spi:{bus}.{chip_select}"
        if key not in self._devices:
            handle = self._new_spi()
            self._devices[key] = SharedDevice(
                key,
                f"/dev/spidev{bus}.{chip_select}",
                handle,
                lambda: handle.open(bus, chip_select),
            )
        return self._devices[key]

    def device(self, key: str | None) -> SharedDevice | None:
        return self._devices.get(key) if key is not None else None

    def adopt_pin_factory(self, factory: Any) -> None:
        """The gateway's pin factory, for GPIO sensors a reload adds to a service that had none
        (so they share the relays' factory, and a demo gateway's mock pins)."""
        if self._pin_factory is None:
            self._pin_factory = factory

    def pin_factory(self) -> Any:
        if self._pin_factory is None:
            self._pin_factory = _gpio_factory()
        return self._pin_factory

    def release(self, key: str) -> None:
        """Close and forget a device no sensor uses any more (a reload removed its last sensor),
        so that a sensor added later on that bus or port opens it with its own settings."""
        device = self._devices.pop(key, None)
        if device is not None:
            device.reset()

    def close(self) -> None:
        """At shutdown, once the sensors stopped (no lock taken: a hung read may hold one)."""
        for device in self._devices.values():
            device.reset()
        self._devices.clear()
