"""A fake HX711 on gpiozero's mock pins: DOUT low when a conversion is ready; each rising edge of
PD_SCK shifts out the next bit, MSB first; after the 24th the number of further pulses selects the
next input/gain (table 3); PD_SCK high during a reset powers it down; the first conversion after a
reset or a gain change is a settling one (`settling` value). Time passes only when the driver
sleeps: the test hands it `sleep` = `fake.tick`, and the next conversion is ready after it."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory, MockPin

GAINS = {1: ("A", 128), 2: ("B", 32), 3: ("A", 64)}


class ClockPin(MockPin):
    chip: FakeHX711 | None = None

    def _change_state(self, value):
        was = self._state
        result = super()._change_state(value)
        if self.chip is not None and value and not was:
            self.chip.rising()
        return result


class FakeHX711:
    def __init__(self, factory: MockFactory, dout: int, sck: int) -> None:
        self.dout = factory.pin(dout)
        self.sck = factory.pin(sck, pin_class=ClockPin)
        self.sck.chip = self
        self.inputs = {"A": 123_456, "B": -2_000}
        self.gain = ("A", 128)
        self.settling = 999_999 - 2**20
        self.ready = True
        self.powered = True
        self.queue: list[int] = []  # codes for the next conversions, then the input
        self._bits: list[int] = []
        self._pulses = 0
        self._fresh = True  # next conversion is a settling one
        self.conversions = 0
        self.resets = 0
        self._load()

    def _load(self) -> None:
        if self._fresh:
            code, self._fresh = self.settling, False
        elif self.queue:
            code = self.queue.pop(0)
        else:
            code = self.inputs[self.gain[0]] * (self.gain[1] // 32)
        code &= 0xFFFFFF
        self._bits = [code >> (23 - i) & 1 for i in range(24)]
        self._pulses = 0
        if self.ready:
            self.dout.drive_low()
        else:
            self.dout.drive_high()

    def power_cycle(self) -> None:
        self.gain, self._fresh = ("A", 128), True
        self._load()

    def rising(self) -> None:
        self._pulses += 1
        if self._pulses <= 24:
            if self._bits[self._pulses - 1]:
                self.dout.drive_high()
            else:
                self.dout.drive_low()
        elif self._pulses == 25:
            self.dout.drive_high()  # the 25th pulse pulls DOUT high

    def tick(self) -> None:
        """Time passes (the driver slept): a powered-down chip resets; after a read's 25..27
        pulses the gain for the next conversion is set and that conversion completes."""
        if self.sck.state:
            self.power_cycle()
            self.resets += 1
            return
        extra = self._pulses - 24
        if extra in GAINS:
            new = GAINS[extra]
            self._fresh = self._fresh or new != self.gain
            self.gain = new
            self.conversions += 1
            self._load()
