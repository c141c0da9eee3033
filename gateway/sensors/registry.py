"""Sensor config -> driver instance.

Driver modules are imported only when a sensor of that type is configured, so a gateway without
smbus2 or pyserial runs its simulated and GPIO sensors fine, and a missing module or library is one
start-up error naming the sensor. The fields of a sensor's config that are not common options
(config.NON_DRIVER_FIELDS) are passed to the driver's constructor by name; the bus seam comes first:

    I2C      Cls(<smbus2.SMBus for /dev/i2c-<bus>>, address=..., **options)
    serial   Cls(<pyserial port from serial.serial_for_url(port, baudrate=...)>, **options)
    SPI      Cls(<spidev.SpiDev for /dev/spidev<bus>.<chip_select>>, **options)
    GPIO     Cls(pin=..., pin_factory=<one shared gpiozero factory>, **options)
    others   Cls(**options)

Sensors on the same I2C bus or serial port share one bus object and one lock (`resource`, a key of
gateway.sensors.resources.Resources). The bus or port is only created here, closed: a bad option or
a missing library is a SensorSetupError that stops start-up, but absent hardware is not: the
scheduler opens the device in the sensor's attempts and retries while it is missing. The same
building, with no pin factory, is how `check-config` finds those problems (`setup_problems`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from drivers.base import Driver
from gateway.errors import GatewayError
from gateway.sensors.config import (
    NON_DRIVER_FIELDS,
    GPIOPinSensor,
    I2CSensor,
    SensorBase,
    SerialSensor,
    SPISensor,
)
from gateway.sensors.filters import FilterError, SensorFilters
from gateway.sensors.resources import Resources

__all__ = [
    "BuiltSensor",
    "Resources",
    "SensorSetupError",
    "build_sensor",
    "build_sensors",
    "compensation_problems",
    "load_driver_class",
    "published_quantities",
    "setup_problems",
]


class SensorSetupError(GatewayError, ValueError):
    """A configured sensor cannot be built; the message names it (`sensor`, when known), `problem`
    is the reason alone."""

    def __init__(self, message: str, problem: str | None = None, sensor: str | None = None) -> None:
        super().__init__(message)
        self.problem, self.sensor = problem or message, sensor


def _setup_error(config: SensorBase, problem: str) -> SensorSetupError:
    name, kind = config.name, config.type
    return SensorSetupError(f"sensor {name!r} (type {kind}): {problem}", problem, name)


@dataclass(frozen=True, slots=True)
class BuiltSensor:
    config: SensorBase
    driver: Driver
    resource: str | None = None  # sensors with the same resource never read at the same time
    filters: SensorFilters | None = None  # the config's filter chains, with their state


def load_driver_class(config: SensorBase) -> Callable[..., Driver]:
    """The driver class named by the config (each takes its own bus and options: hence `...`)."""
    module_name, class_name = config.driver
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise _setup_error(
            config, f"cannot load the driver {module_name}.{class_name}: {exc}"
        ) from exc


def build_sensor(config: SensorBase, resources: Resources) -> BuiltSensor:
    cls = load_driver_class(config)
    options = {
        config.option_names.get(k, k): v
        for k, v in config.model_dump(exclude=set(NON_DRIVER_FIELDS)).items()
    }
    if config.type_option is not None:
        options[config.type_option] = config.type
    resource = None
    try:
        if isinstance(config, I2CSensor):
            device = resources.i2c(config.bus)
            driver, resource = cls(device.handle, **options), device.key
        elif isinstance(config, SerialSensor):
            device = resources.serial(config.port, config.baudrate)
            driver, resource = cls(device.handle, **options), device.key
        elif isinstance(config, SPISensor):
            device = resources.spi(config.bus, config.chip_select)
            driver, resource = cls(device.handle, **options), device.key
        elif isinstance(config, GPIOPinSensor):
            driver = cls(pin_factory=resources.pin_factory(), **options)
        else:
            driver = cls(**options)
    except SensorSetupError:
        raise
    except Exception as exc:  # bad option, unknown serial URL scheme, missing library
        raise _setup_error(config, str(exc)) from exc
    _check_quantity_options(config, driver)
    try:
        filters = SensorFilters(config.filters, driver.quantities) if config.filters else None
    except FilterError as exc:
        raise _setup_error(config, str(exc)) from exc
    return BuiltSensor(config, driver, resource, filters)


def _check_quantity_options(config: SensorBase, driver: Driver) -> None:
    known = [q for q, _ in driver.quantities]
    for field in ("deadband", "decimals", "device_class"):
        unknown = sorted(set(getattr(config, field)) - set(known))
        if unknown:
            raise _setup_error(
                config, f"{field} names {unknown}, but the sensor reports only {known}"
            )


def build_sensors(configs: Sequence[SensorBase], resources: Resources) -> list[BuiltSensor]:
    return [build_sensor(config, resources) for config in configs]


def compensation_problems(built: Sequence[BuiltSensor]) -> list[SensorSetupError]:
    """Each `compensation_sensor` must be another sensor reporting temperature and humidity, and
    the sensor naming it must take compensation (a driver with `compensate(t, rh)`)."""
    by_name = {b.config.name: b for b in built}
    problems = []
    for b in built:
        source = getattr(b.config, "compensation_sensor", None)
        if source is None:
            continue
        if source not in by_name or source == b.config.name:
            problems.append(
                _setup_error(
                    b.config, f"compensation_sensor {source!r} is not another configured sensor"
                )
            )
            continue
        quantities = {q for q, _ in by_name[source].driver.quantities}
        if not {"temperature", "humidity"} <= quantities:
            problems.append(
                _setup_error(
                    b.config,
                    f"compensation_sensor {source!r} reports "
                    f"{sorted(quantities)}, not temperature and humidity",
                )
            )
        elif not callable(getattr(b.driver, "compensate", None)):
            problems.append(_setup_error(b.config, "its driver takes no compensation"))
    return problems


class _NoPinFactory:
    """What check-config hands GPIO drivers: they keep their factory for open(), never called there."""


def setup_problems(
    configs: Sequence[SensorBase],
    resources: Resources | None = None,
    quantities: dict[str, tuple[tuple[str, str], ...]] | None = None,
) -> list[SensorSetupError]:
    """Every sensor whose driver cannot be built, found without opening any device: buses and
    ports are created closed, GPIO drivers get no real pin factory. `quantities`, when given,
    receives each built sensor's published quantities (after its filters' unit changes)."""
    resources = resources or Resources(pin_factory=_NoPinFactory())
    problems, built = [], []
    for config in configs:
        try:
            built.append(build_sensor(config, resources))
        except SensorSetupError as exc:
            problems.append(exc)
    resources.close()
    if quantities is not None:
        quantities.update((b.config.name, published_quantities(b)) for b in built)
    return problems + compensation_problems(built)


def published_quantities(built: BuiltSensor) -> tuple[tuple[str, str], ...]:
    """The driver's quantities with the units its filters convert to."""
    quantities = tuple(built.driver.quantities)
    return built.filters.output_quantities(quantities) if built.filters else quantities
