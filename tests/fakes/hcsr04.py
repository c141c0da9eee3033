"""A fake HC-SR04 on gpiozero's mock pins with a controlled clock: when the driver's trigger pin
falls after a pulse, the module raises ECHO, the clock moves by the round trip of `distance` (or
38 ms with no echo) and ECHO falls; each edge is stamped with the factory's ticks, as lgpio stamps
them with the kernel's."""

from __future__ import annotations

from tests.fakes.ticked_gpio import TickedMockFactory, TickedMockPin


class TriggerPin(TickedMockPin):
    module: FakeHCSR04 | None = None

    def _change_state(self, value):  # gpiozero MockPin hook for output writes
        was = self._state
        result = super()._change_state(value)
        if was and not value and self.module is not None:
            self.module.fire()
        return result


class FakeHCSR04:
    def __init__(
        self, factory: TickedMockFactory, echo: int, trigger: int, speed: float = 343.42
    ) -> None:
        self.factory, self.speed = factory, speed
        self.distance: float | None = 1.0  # None: no echo
        self.connected = True
        self.echo = factory.pin(echo)
        self.trigger = factory.pin(trigger, pin_class=TriggerPin)
        self.trigger.module = self
        self.pings = 0
        self.queue: list[float | None] = []  # distances for the next pings, then `distance`

    def fire(self) -> None:
        if not self.connected:
            return
        self.pings += 1
        distance = self.queue.pop(0) if self.queue else self.distance
        high = 0.038 if distance is None else 2 * distance / self.speed
        self.echo.drive_high()
        self.factory.advance(high)
        self.echo.drive_low()
