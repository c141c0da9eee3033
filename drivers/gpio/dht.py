"""DHT11, DHT22 / AM2302 humidity and temperature sensors, read through the Linux kernel's dht11
IIO driver (drivers/iio/humidity/dht11.c), which handles both.

Why the kernel: a DHT answers a start pulse with 40 bits whose values are pulse widths of 26-28 µs
(0) or 70 µs (1). Decoding them from Python means busy-waiting on a pin with microsecond timing,
which a preempted user-space process on a Pi misses often (and which burns a core while it tries).
The kernel driver timestamps the edges in an interrupt handler and checks the checksum itself;
`dtoverlay=dht11,gpiopin=4` in config.txt loads it for a sensor on GPIO 4 (one overlay line per
sensor). Libraries that bit-bang in user space (Adafruit_DHT, deprecated by its authors, and
adafruit-circuitpython-dht, which needs Blinka) were not taken for that reason.

The driver shows `/sys/bus/iio/devices/iio:deviceN/` with `name` ("dht11...", for DHT22 too),
`in_temp_input` (m°C) and `in_humidityrelative_input` (m%RH). A read makes it measure (it keeps a
result for 2 s); a checksum or timing failure is EIO, no answer from the sensor ETIMEDOUT: both
are failed reads. No iio device named dht11 means the overlay is not loaded: not found.
The rated ranges (DHT22 -40..80 °C, 0..100 %RH) are checked; never clamp.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from drivers.base import DeviceNotFound, Driver, DriverError, InvalidReading, Reading

IIO_BASE = "/sys/bus/iio/devices"
T_RANGE_C, RH_RANGE = (-40.0, 80.0), (0.0, 100.0)


def _read_file(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read()


class DHT(Driver):
    quantities = (("temperature", "°C"), ("humidity", "%"))

    def __init__(
        self,
        *,
        iio_device: str | None = None,
        base_path: str = IIO_BASE,
        read_file: Callable[[str], str] = _read_file,
    ) -> None:
        if iio_device is not None and not iio_device.startswith("iio:device"):
            raise ValueError(f"DHT: iio_device {iio_device!r} must look like 'iio:device0'")
        self.iio_device, self.base_path, self.read_file = iio_device, base_path, read_file
        self.path: str | None = None

    def _find(self) -> str:
        """The configured iio device, or the only one named dht11*."""
        if self.iio_device is not None:
            candidates = [self.iio_device]
        else:
            try:
                candidates = sorted(
                    d for d in os.listdir(self.base_path) if d.startswith("iio:device")
                )
            except FileNotFoundError:
                candidates = []
        found = []
        for name in candidates:
            try:
                if self.read_file(os.path.join(self.base_path, name, "name")).startswith("dht11"):
                    found.append(name)
            except FileNotFoundError:
                continue
        if not found:
            raise DeviceNotFound(
                errno.ENOENT,
                f"DHT: no {self.iio_device or 'iio device'} named "
                f"dht11 under {self.base_path} (is dtoverlay=dht11,gpiopin=N in "
                f"config.txt?)",
            )
        if len(found) > 1:
            raise DriverError(
                f"DHT: several dht11 iio devices ({', '.join(found)}): set iio_device"
            )
        return os.path.join(self.base_path, found[0])

    def open(self) -> None:
        self.path = self._find()

    def _value(self, attribute: str) -> float:
        assert self.path is not None
        try:
            return int(self.read_file(os.path.join(self.path, attribute)).strip()) / 1000
        except FileNotFoundError as exc:
            self.path = None  # the overlay went away: find it again
            raise DeviceNotFound(errno.ENOENT, f"DHT: {attribute} vanished") from exc
        except OSError as exc:
            if exc.errno == errno.EIO:
                raise InvalidReading("DHT: checksum or timing error (kernel dht11: EIO)") from exc
            if exc.errno == errno.ETIMEDOUT:
                raise DriverError(
                    "DHT: the sensor did not answer the start pulse (ETIMEDOUT)"
                ) from exc
            raise

    def read(self) -> list[Reading]:
        if self.path is None:
            self.open()
        temp = self._value("in_temp_input")
        rh = self._value("in_humidityrelative_input")
        if not T_RANGE_C[0] <= temp <= T_RANGE_C[1]:
            raise InvalidReading(f"DHT: temperature {temp:g} °C outside -40..80 °C")
        if not RH_RANGE[0] <= rh <= RH_RANGE[1]:
            raise InvalidReading(f"DHT: humidity {rh:g} % outside 0..100 %")
        return [Reading("temperature", temp, "°C"), Reading("humidity", rh, "%")]
