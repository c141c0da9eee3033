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

from drivers.base import DriverError, Reading
from drivers.gpio.edges import EdgeInput

#: kind -> quantity name. contact/reed: True = closed; button: True = pressed; pir: True = motion.
KINDS: dict[str, str] = {
    "contact": "contact",
    "reed": "contact",
    "button": "pressed",
    "pir": "motion",
}

Listener = Callable[[Reading], None]


class DigitalInput(EdgeInput):
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
        super().__init__(pin, pull, active_low, bounce_time, pin_factory)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.kind = kind
        self.quantity = KINDS[kind]
        self.quantities = ((self.quantity, ""),)
        self._listener: Listener | None = None
        self._reported: bool | None = None
        self._lock = threading.Lock()

    def set_listener(self, listener: Listener | None) -> None:
        """Call `listener(Reading)` from gpiozero's thread on every debounced change (None: stop)."""
        self._listener = listener

    def open(self) -> None:
        self._reported = self._open_pin()
        self._listen()

    def read(self) -> list[Reading]:
        if self._device is None:
            raise DriverError(f"GPIO input on pin {self.pin_number} is not open")
        active = self._is_active(self._device.pin.state)
        with self._lock:
            self._reported = active
        return [Reading(self.quantity, active)]

    def _edge(self, active: bool) -> None:
        with self._lock:
            if active == self._reported:
                return
            self._reported = active
        listener = self._listener
        if listener is not None:
            listener(Reading(self.quantity, active))
