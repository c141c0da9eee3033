"""Outputs: relays, contactors, dimmers and fans, behind one contract.

An `Output` is driven with `set(value)` and read back with `read()`. Values are gpiozero's: 0.0 is
off and 1.0 is fully on; a binary output accepts only 0 and 1, a PWM output any duty in between.
`read()` returns what the *device* reports (the pin level for GPIO, the port register for an I2C
expander), not what was last written, so the gateway publishes the truth.

`active_low` means the relay is energised when the pin is low (most opto-isolated relay boards);
`set(1)` always means "load on". Out-of-range values raise `OutputValueError`; nothing is clamped.

Constructors take their pin factory (gpiozero) or port (an expander chip from drivers.i2c), never
a global. `close()` releases the pin; an output that must keep its state when the gateway stops is
simply not closed.
"""

from __future__ import annotations

import abc
from typing import Any, Protocol

from drivers.base import DriverError


class OutputValueError(DriverError, ValueError):
    """A value an output cannot take (not 0/1 for a binary output, outside 0..1 for PWM)."""


class Output(abc.ABC):
    """One controllable output. `pwm` says whether values between 0 and 1 are allowed."""

    pwm: bool = False

    def check(self, value: float) -> float:
        """Validate `value` for this output and return it as a float."""
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int | float) or not 0 <= value <= 1:
            raise OutputValueError(f"output value must be within 0..1, got {value!r}")
        if not self.pwm and value not in (0, 1):
            raise OutputValueError(f"a binary output takes 0 or 1, got {value!r}")
        return float(value)

    @abc.abstractmethod
    def set(self, value: float) -> None:
        """Drive the output (0 = off, 1 = on, a duty in between for PWM)."""

    @abc.abstractmethod
    def read(self) -> float:
        """The state as read back from the device."""

    def close(self) -> None:  # noqa: B027 - expander pins need no release
        """Release the pin."""


class GpioOutput(Output):
    """A relay on a GPIO pin (gpiozero DigitalOutputDevice)."""

    def __init__(
        self,
        pin: int | str,
        *,
        active_low: bool = False,
        initial: float = 0.0,
        pin_factory: Any = None,
    ) -> None:
        from gpiozero import DigitalOutputDevice

        initial = self.check(initial)
        self._device = DigitalOutputDevice(
            pin, active_high=not active_low, initial_value=bool(initial), pin_factory=pin_factory
        )

    def set(self, value: float) -> None:
        self._device.value = int(self.check(value))

    def read(self) -> float:
        return float(self._device.value)

    def close(self) -> None:
        self._device.close()


class PwmOutput(Output):
    """A PWM output (gpiozero PWMOutputDevice): dimmers, fans, MOSFET drivers."""

    pwm = True

    def __init__(
        self,
        pin: int | str,
        *,
        active_low: bool = False,
        initial: float = 0.0,
        frequency: float = 100.0,
        pin_factory: Any = None,
    ) -> None:
        from gpiozero import PWMOutputDevice

        if not frequency > 0:
            raise OutputValueError(f"PWM frequency must be > 0 Hz, got {frequency!r}")
        self._device = PWMOutputDevice(
            pin,
            active_high=not active_low,
            initial_value=self.check(initial),
            frequency=frequency,
            pin_factory=pin_factory,
        )

    def set(self, value: float) -> None:
        self._device.value = self.check(value)

    def read(self) -> float:
        return float(self._device.value)

    def close(self) -> None:
        self._device.close()


class PinPort(Protocol):
    """A port expander as seen by one of its pins (drivers.i2c.pcf8574 / mcp23017)."""

    def write_pin(self, pin: int, level: bool) -> None: ...
    def read_pin(self, pin: int) -> bool: ...
    def release_pin(self, pin: int) -> None: ...


class ExpanderOutput(Output):
    """One pin of an I2C port expander used as a binary output. Get it from the chip's `output()`."""

    def __init__(self, port: PinPort, pin: int, *, active_low: bool = False) -> None:
        self._port, self.pin, self.active_low = port, pin, active_low

    def set(self, value: float) -> None:
        self._port.write_pin(self.pin, self.pin_level(value))

    def pin_level(self, value: float) -> bool:
        """The pin level that drives the output to `value` (for a chip's `reinit`)."""
        return (self.check(value) == 1.0) != self.active_low

    def read(self) -> float:
        return float(self._port.read_pin(self.pin) != self.active_low)

    def close(self) -> None:
        self._port.release_pin(self.pin)
