"""Incremental rotary encoders (KY-040 and other quadrature encoders with two contacts).

gpiozero's RotaryEncoder does the quadrature decoding from the A/B edges; this driver reports its
`steps` (one per detent, + clockwise, - anticlockwise, unbounded) and, like the GPIO inputs, calls
the listener for each step so a turn shows at once. `count` and `restore(count)` are the interface
the gateway's `persist = true` uses (as for pulse counters) to keep the position across restarts.
The contacts close to GND: the pins are pulled up (the KY-040 board also has 10 kΩ pull-ups); its
push button is a separate `gpio_input`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from drivers.base import Driver, DriverError, Reading

Listener = Callable[[Reading], None]


class RotaryEncoder(Driver):
    quantities = (("steps", ""),)

    def __init__(
        self,
        *,
        pin: int | str,
        pin_b: int | str,
        bounce_time: float | None = None,
        pin_factory: Any = None,
    ) -> None:
        if pin == pin_b:
            raise ValueError("rotary encoder: pin (A) and pin_b must differ")
        if bounce_time is not None and not 0 < bounce_time <= 0.1:
            raise ValueError("rotary encoder: bounce_time must be in (0, 0.1] seconds")
        self.pin_a, self.pin_b, self.bounce_time = pin, pin_b, bounce_time
        self._factory = pin_factory
        self._device: Any = None
        self._listener: Listener | None = None
        self._offset = 0
        self._lock = threading.Lock()

    def set_listener(self, listener: Listener | None) -> None:
        self._listener = listener

    @property
    def count(self) -> int:
        with self._lock:
            return self._offset + (self._device.steps if self._device is not None else 0)

    def restore(self, count: int) -> None:
        with self._lock:
            self._offset = count - (self._device.steps if self._device is not None else 0)

    def open(self) -> None:
        from gpiozero import RotaryEncoder as Decoder  # lazily: an optional dependency

        factory = self._factory
        if factory is None:
            from drivers.bus.gpio import default_factory

            factory = default_factory()
        with self._lock:
            self._device = Decoder(
                self.pin_a,
                self.pin_b,
                bounce_time=self.bounce_time,
                max_steps=0,
                pin_factory=factory,
            )
        self._device.when_rotated = self._on_step

    def close(self) -> None:
        with self._lock:
            if self._device is not None:
                self._offset += self._device.steps
                self._device.close()
                self._device = None

    def _on_step(self) -> None:
        listener = self._listener
        if listener is not None:
            listener(Reading("steps", self.count))

    def read(self) -> list[Reading]:
        if self._device is None:
            raise DriverError(f"rotary encoder on GPIO {self.pin_a}/{self.pin_b} is not open")
        return [Reading("steps", self.count)]
