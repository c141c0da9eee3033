"""Avia HX711 24-bit ADC for load cells (datasheet "HX711 24-Bit Analog-to-Digital Converter").

Two pins: DOUT (data, input) and PD_SCK (clock, output). DOUT goes low when a conversion is ready;
each PD_SCK pulse then shifts out one bit, MSB first, 24 in all, two's complement. One to three
more pulses pick the input and gain of the *next* conversion (table 3): 25 pulses channel A gain
128, 26 channel B gain 32, 27 channel A gain 64. PD_SCK held high for more than 60 µs powers the
chip down; low again powers it up (reset, and gain A/128). The codes 0x7FFFFF and 0x800000 are
the saturated ends of the range: the input is beyond it, so such a read fails (never clamp).
The first conversion after a reset or a gain change settles for 4 conversion periods.

The clock is bit-banged through gpiozero's pin objects from the sensor's worker thread. A pulse is
a few microseconds with lgpio; if the thread were held for more than 60 µs with PD_SCK high the
chip would power down and the bits would be garbage, which is why a read takes the median of
`samples` conversions. (The PyPI hx711 packages bit-bang the same way with RPi.GPIO, which does
not work on a Pi 5, and are not maintained: not taken.) weight = (median - offset) / scale.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from drivers.base import Driver, DriverError, InvalidReading, Reading

GAIN_PULSES = {("A", 128): 1, ("B", 32): 2, ("A", 64): 3}
POWER_DOWN_S = 0.0001  # > 60 µs
READY_TIMEOUT_S = 0.5  # 10 SPS: a conversion every 100 ms
READY_POLL_S = 0.005
SATURATED = (0x7FFFFF, -0x800000)


def to_signed(raw: int) -> int:
    return raw - (1 << 24) if raw & 0x800000 else raw


class HX711(Driver):
    def __init__(
        self,
        *,
        pin: int | str,
        clock_pin: int | str,
        channel: str = "A",
        gain: int = 128,
        samples: int = 3,
        offset: float = 0.0,
        scale: float = 1.0,
        unit: str = "g",
        pin_factory: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if (channel, gain) not in GAIN_PULSES:
            raise ValueError("HX711: channel/gain must be A/128, A/64 or B/32")
        if not 1 <= samples <= 15:
            raise ValueError("HX711: samples must be 1..15")
        if scale == 0:
            raise ValueError("HX711: scale (counts per unit) must not be 0")
        if pin == clock_pin:
            raise ValueError("HX711: pin (DOUT) and clock_pin (PD_SCK) must differ")
        self.dout_pin, self.sck_pin = pin, clock_pin
        self.extra_pulses = GAIN_PULSES[(channel, gain)]
        self.samples, self.offset, self.scale, self.unit = samples, offset, scale, unit
        self.quantities = (("weight", unit), ("raw", ""))
        self._factory, self.sleep, self.monotonic = pin_factory, sleep, monotonic
        self._dout: Any = None
        self._sck: Any = None

    def open(self) -> None:
        from gpiozero import DigitalInputDevice, DigitalOutputDevice  # lazily: optional

        factory = self._factory
        if factory is None:
            from drivers.bus.gpio import default_factory

            factory = default_factory()
        self._sck = DigitalOutputDevice(self.sck_pin, initial_value=True, pin_factory=factory)
        self._dout = DigitalInputDevice(
            self.dout_pin, pull_up=None, active_state=True, pin_factory=factory
        )
        self.sleep(POWER_DOWN_S)  # held high: powered down, i.e. reset
        self._sck.off()
        self._conversion()  # sets the gain; the settling conversion is discarded

    def close(self) -> None:
        for device in (self._dout, self._sck):
            if device is not None:
                device.close()
        self._dout = self._sck = None

    def _wait_ready(self) -> None:
        deadline = self.monotonic() + READY_TIMEOUT_S
        while self._dout.value:
            if self.monotonic() >= deadline:
                raise DriverError(
                    f"HX711: DOUT (GPIO {self.dout_pin}) stayed high for "
                    f"{READY_TIMEOUT_S} s: no conversion (wiring or power)"
                )
            self.sleep(READY_POLL_S)

    def _conversion(self) -> int:
        if self._sck is None:
            raise DriverError("HX711 is not open")
        self._wait_ready()
        raw = 0
        pin, dout = self._sck.pin, self._dout.pin
        for _ in range(24):
            pin.state = True
            pin.state = False
            raw = raw << 1 | int(dout.state)
        for _ in range(self.extra_pulses):
            pin.state = True
            pin.state = False
        return to_signed(raw)

    def read(self) -> list[Reading]:
        values = []
        for _ in range(self.samples):
            raw = self._conversion()
            if raw in SATURATED:
                raise InvalidReading(
                    f"HX711: code 0x{raw & 0xFFFFFF:06X} is saturated (load cell "
                    f"wiring, or a load beyond the range at this gain)"
                )
            values.append(raw)
        middle = statistics.median(values)
        return [
            Reading("weight", (middle - self.offset) / self.scale, self.unit),
            Reading("raw", middle),
        ]
