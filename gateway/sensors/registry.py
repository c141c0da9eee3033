"""Sensor config -> driver instance.

Driver modules are imported only when a sensor of that type is configured, so a gateway without
smbus2 or pyserial runs its simulated and GPIO sensors fine, and a missing module or library is one
start-up error naming the sensor. The fields of a sensor's config that are not common options
(config.NON_DRIVER_FIELDS) are passed to the driver's constructor by name; the bus seam comes first:

    I2C      Cls(<smbus2 bus from drivers.bus.i2c.open_bus(bus)>, address=..., **options)
    serial   Cls(<pyserial port from serial.serial_for_url(port, baudrate=...)>, **options)
    GPIO     Cls(pin=..., pin_factory=<one shared gpiozero factory>, **options)
    others   Cls(**options)

Sensors on the same I2C bus or serial port share one bus object and one lock (`resource`).
"""

from __future__ import annotations

import logging

import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from drivers.base import Driver
from gateway.mqtt.errors import GatewayError
from gateway.sensors.config import (NON_DRIVER_FIELDS, GPIOSensor, I2CSensor, SensorBase,
                                    SerialSensor)


log = logging.getLogger(__name__)


class SensorSetupError(GatewayError, ValueError):
    """A configured sensor cannot be built; the message names it."""


def _open_i2c(number: int) -> Any:
    from drivers.bus.i2c import open_bus

    return open_bus(number)


def _open_serial(port: str, baudrate: int) -> Any:
    import serial

    return serial.serial_for_url(port, baudrate=baudrate, timeout=1.0)


def _gpio_factory() -> Any:
    from drivers.bus.gpio import default_factory

    return default_factory()


class Resources:
    """The buses, ports and pin factory the drivers were given; shared, opened once, closed once."""

    def __init__(self, *, pin_factory: Any = None, open_i2c: Callable[[int], Any] = _open_i2c,
                 open_serial: Callable[[str, int], Any] = _open_serial) -> None:
        self._pin_factory = pin_factory
        self._open_i2c, self._open_serial = open_i2c, open_serial
        self._opened: dict[str, Any] = {}
        self.locks: dict[str, threading.Lock] = {}

    def i2c(self, number: int) -> tuple[Any, str]:
        return self._shared(f"i2c:{number}", lambda: self._open_i2c(number))

    def serial(self, port: str, baudrate: int) -> tuple[Any, str]:
        return self._shared(f"serial:{port}", lambda: self._open_serial(port, baudrate))

    def pin_factory(self) -> Any:
        if self._pin_factory is None:
            self._pin_factory = _gpio_factory()
        return self._pin_factory

    def _shared(self, key: str, opener: Callable[[], Any]) -> tuple[Any, str]:
        if key not in self._opened:
            self._opened[key] = opener()
            self.locks[key] = threading.Lock()
        return self._opened[key], key

    def recover(self, key: str | None) -> bool:
        """Reopen a shared I2C bus in place after its sensors kept failing (blocking: run it in a
        thread). Drivers keep their reference, so the bus object is closed and opened again
        rather than replaced; see drivers.bus.i2c.recover_bus for what a reopen can and cannot
        clear. Returns True when a recovery was attempted."""
        if key is None or not key.startswith("i2c:") or key not in self._opened:
            return False
        bus, number = self._opened[key], int(key.split(":", 1)[1])
        with self.locks[key]:
            log.warning("i2c-%d: sensors keep failing; reopening the bus", number)
            try:
                bus.close()
            except OSError as exc:
                log.warning("i2c-%d: closing the wedged bus failed: %s", number, exc)
            bus.open(number)
        return True

    def close(self) -> None:
        for thing in self._opened.values():
            close = getattr(thing, "close", None)
            if close is not None:
                close()
        self._opened.clear()


@dataclass(frozen=True, slots=True)
class BuiltSensor:
    config: SensorBase
    driver: Driver
    resource: str | None = None  # sensors with the same resource never read at the same time


def load_driver_class(config: SensorBase) -> type[Driver]:
    module_name, class_name = config.driver
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise SensorSetupError(f"sensor {config.name!r} (type {config.type}): cannot load the driver "  # type: ignore[attr-defined]
                               f"{module_name}.{class_name}: {exc}") from exc


def build_sensor(config: SensorBase, resources: Resources) -> BuiltSensor:
    cls = load_driver_class(config)
    options = {config.option_names.get(k, k): v
               for k, v in config.model_dump(exclude=set(NON_DRIVER_FIELDS)).items()}
    resource = None
    try:
        if isinstance(config, I2CSensor):
            bus, resource = resources.i2c(config.bus)
            driver = cls(bus, **options)
        elif isinstance(config, SerialSensor):
            port, resource = resources.serial(config.port, config.baudrate)
            driver = cls(port, **options)
        elif isinstance(config, GPIOSensor):
            driver = cls(pin_factory=resources.pin_factory(), **options)
        else:
            driver = cls(**options)
    except SensorSetupError:
        raise
    except Exception as exc:  # bad option, missing library, bus that will not open
        raise SensorSetupError(f"sensor {config.name!r} (type {config.type}): {exc}") from exc  # type: ignore[attr-defined]
    _check_quantity_options(config, driver)
    return BuiltSensor(config, driver, resource)


def _check_quantity_options(config: SensorBase, driver: Driver) -> None:
    known = [q for q, _ in driver.quantities]
    for field in ("deadband", "decimals", "device_class"):
        unknown = sorted(set(getattr(config, field)) - set(known))
        if unknown:
            raise SensorSetupError(f"sensor {config.name!r}: {field} names {unknown}, but the sensor "
                                   f"reports only {known}")


def build_sensors(configs: Sequence[SensorBase], resources: Resources) -> list[BuiltSensor]:
    return [build_sensor(config, resources) for config in configs]
