"""HC-SR04 ultrasonic distance sensor on two GPIO pins.

A measurement (HC-SR04 user guide, "timing diagram"): a pulse of at least 10 µs on TRIG makes the
module send eight 40 kHz cycles and raise ECHO; ECHO falls when the echo returns, so its high time
is the sound's round trip: distance = t × c / 2, with c = 331.3 + 0.606 × T m/s (dry air at T °C).
With no echo the module holds ECHO high for about 38 ms. The guide advises at least 60 ms between
measurements; the range is 2 cm to 4 m.

Why not gpiozero's DistanceSensor: it pings continuously from a thread, times ECHO with the
thread's own clock, and with no echo reports 0.0 (partial queue) or blocks (full queue), or clamps
to max_distance: made-up values. This driver times ECHO with the tick stamps the pin factory gives
each edge (lgpio takes them from the kernel's edge events, so the Python thread's scheduling does
not enter the measurement), takes the median of `samples` pings, and fails a read when an echo is
missing or outside the range. ECHO is a 5 V signal: it needs a divider (1 kΩ / 2 kΩ) to the Pi.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from drivers.base import Driver, DriverError, InvalidReading, Reading

TRIGGER_S = 10e-6
CYCLE_S = 0.060  # between pings (user guide)
NO_ECHO_S = 0.038  # ECHO high this long means nothing came back
MIN_M, MAX_M = 0.02, 4.0


def speed_of_sound(celsius: float) -> float:
    return 331.3 + 0.606 * celsius


class HCSR04(Driver):
    quantities = (("distance", "m"),)

    def __init__(
        self,
        *,
        pin: int | str,
        trigger_pin: int | str,
        samples: int = 3,
        max_distance: float = MAX_M,
        temperature: float = 20.0,
        pin_factory: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= samples <= 15:
            raise ValueError("HC-SR04: samples must be 1..15")
        if not MIN_M < max_distance <= MAX_M:
            raise ValueError("HC-SR04: max_distance must be above 0.02 and at most 4 m")
        if pin == trigger_pin:
            raise ValueError("HC-SR04: the echo pin and the trigger pin must differ")
        self.echo_pin, self.trigger_pin, self.samples = pin, trigger_pin, samples
        self.max_distance, self.c = max_distance, speed_of_sound(temperature)
        self._factory, self.sleep = pin_factory, sleep
        self._echo: Any = None
        self._trigger: Any = None
        self._edges: list[tuple[Any, int]] = []
        self._done = threading.Event()

    def open(self) -> None:
        from gpiozero import DigitalOutputDevice, InputDevice  # lazily: an optional dependency

        factory = self._factory
        if factory is None:
            from drivers.bus.gpio import default_factory

            factory = default_factory()
        self._trigger = DigitalOutputDevice(
            self.trigger_pin, initial_value=False, pin_factory=factory
        )
        self._echo = InputDevice(self.echo_pin, pull_up=False, pin_factory=factory)
        self._echo.pin.edges = "both"
        self._echo.pin.when_changed = self._on_edge
        self._ticks_diff = factory.ticks_diff

    def close(self) -> None:
        for device in (self._echo, self._trigger):
            if device is not None:
                device.close()
        self._echo = self._trigger = None

    def _on_edge(self, ticks: Any, level: Any) -> None:
        self._edges.append((ticks, int(level)))
        if not level:
            self._done.set()

    def ping(self) -> float:
        """One measurement: metres, or InvalidReading when no usable echo came back."""
        if self._trigger is None:
            raise DriverError("HC-SR04 is not open")
        self._edges, self._done = [], threading.Event()
        self._trigger.on()
        self.sleep(TRIGGER_S)
        self._trigger.off()
        if not self._done.wait(NO_ECHO_S + 0.030):
            raise DriverError(f"HC-SR04: ECHO on GPIO {self.echo_pin} never fell (not connected?)")
        rises = [t for t, level in self._edges if level]
        if not rises:
            raise DriverError(f"HC-SR04: ECHO on GPIO {self.echo_pin} never rose (not connected?)")
        high = self._ticks_diff(self._edges[-1][0], rises[0])
        if high >= NO_ECHO_S:
            raise InvalidReading(f"HC-SR04: no echo (nothing within {self.max_distance:g} m)")
        distance = high * self.c / 2
        if not MIN_M <= distance <= self.max_distance:
            raise InvalidReading(
                f"HC-SR04: {distance:.3f} m outside {MIN_M}..{self.max_distance:g} m"
            )
        return distance

    def read(self) -> list[Reading]:
        values, errors = [], []
        for i in range(self.samples):
            if i:
                self.sleep(CYCLE_S)
            try:
                values.append(self.ping())
            except InvalidReading as exc:
                errors.append(exc)
        if len(values) * 2 <= self.samples:  # most pings failed: no trustworthy median
            raise errors[-1]
        return [Reading("distance", statistics.median(values), "m")]
