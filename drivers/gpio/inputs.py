"""Digital inputs: door/window contacts, reed switches, push buttons and PIR motion sensors.

Each input reports one boolean quantity (see KINDS): True means *active* — contact closed, button
pressed, motion detected. `active_low` says which pin level is active; it defaults to True with a
pull-up (the switch shorts the pin to ground) and False otherwise.

State changes are reported the moment they happen: `set_listener(fn)` makes the driver call
`fn(Reading)` from gpiozero's event thread for every debounced change (see drivers.gpio.edges). The
listener must be quick and thread-safe; the gateway hops to its event loop with
`loop.call_soon_threadsafe`. `read()` returns the current level and is what the periodic poll uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from drivers.base import Driver, DriverError, Reading
from drivers.gpio.edges import Debouncer, check_input_options, open_input

#: kind -> quantity name. contact/reed: True = closed; button: True = pressed; pir: True = motion.
KINDS: dict[str, str] = {
    "contact": "contact",
    "reed": "contact",
    "button": "pressed",
    "pir": "motion",
}

Listener = Callable[[Reading], None]


class DigitalInput(Driver):
    def __init__(
        self,
        pin: int | str,
        *,
        kind: str = "contact",
        pull: str = "up",
        active_low: bool | None = None,
        bounce_time: float | None = None,
        pin_factory: Any = None,
    ) -> None:
        check_input_options(pin, pull, bounce_time)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.pin_number, self.kind, self.pull = pin, kind, pull
        self.active_low = (pull == "up") if active_low is None else active_low
        self.bounce_time = bounce_time
        self.quantity = KINDS[kind]
        self.quantities = ((self.quantity, ""),)
        self._factory = pin_factory
        self._device: Any = None
        self._debouncer: Debouncer | None = None
        self._listener: Listener | None = None
        self._reported: bool | None = None
        self._lock = threading.Lock()

    def set_listener(self, listener: Listener | None) -> None:
        """Call `listener(Reading)` from gpiozero's thread on every debounced change (None: stop)."""
        self._listener = listener

    def open(self) -> None:
        self._device = open_input(self.pin_number, self.pull, self._factory)
        factory = self._device.pin_factory
        self._debouncer = Debouncer(self.bounce_time, factory.ticks_diff)
        self._reported = self._active(self._device.pin.state)
        self._device.pin.when_changed = self._on_edge

    def read(self) -> list[Reading]:
        if self._device is None:
            raise DriverError(f"GPIO input on pin {self.pin_number} is not open")
        active = self._active(self._device.pin.state)
        with self._lock:
            self._reported = active
        return [Reading(self.quantity, active)]

    def close(self) -> None:
        if self._device is not None:
            self._device.pin.when_changed = None
            self._device.close()
            self._device = None

    @property
    def ignored_edges(self) -> int:
        """Edges dropped by the debouncer since open()."""
        return self._debouncer.ignored if self._debouncer else 0

    def _active(self, level: Any) -> bool:
        return bool(level) != self.active_low

    def _on_edge(self, ticks: Any, level: Any) -> None:
        if self._debouncer is None or not self._debouncer.accept(ticks):
            return
        active = self._active(level)
        with self._lock:
            if active == self._reported:
                return
            self._reported = active
        listener = self._listener
        if listener is not None:
            listener(Reading(self.quantity, active))
