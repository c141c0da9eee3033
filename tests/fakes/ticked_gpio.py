"""gpiozero's MockFactory with a clock the test controls.

MockPin stamps each edge with time.monotonic(), so debouncing could only be tested with real
sleeps. `TickedMockFactory` gives its pins a settable `now` instead: each drive_low()/drive_high()
edge is reported to `when_changed` with the factory's current ticks, like a real pin's kernel
timestamp.
"""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory, MockPin
from gpiozero.pins.pi import PiPin


class TickedMockPin(MockPin):
    def _call_when_changed(self) -> None:
        PiPin._call_when_changed(self, self._factory.ticks(), self._state)


class TickedMockFactory(MockFactory):
    def __init__(self) -> None:
        super().__init__(pin_class=TickedMockPin)
        self.now = 1000.0

    def ticks(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
