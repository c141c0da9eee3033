"""PCF8574 / PCF8574A: 8-bit quasi-bidirectional I/O port expander (NXP datasheet rev. 5).

How it works (datasheet §8.1, "quasi-bidirectional I/Os"): the chip has no registers and no
direction setting. Writing one byte sets the output latch: a 0 bit drives the pin low hard (sinks
up to 25 mA), a 1 bit only pulls it high weakly (about 100 µA) so the pin can double as an input.
Reading one byte returns the *pin levels*, not the latch. At power-on the latch is all ones
(§8.3), so every pin is high.

Consequences that the driver follows:
* the latch cannot be read back, so the chip object keeps a shadow copy and writes the whole byte
  on every change (one chip object per address, shared by its pin outputs);
* unclaimed pins are left at 1 so they stay usable as inputs;
* `read_pin` reports the real level, so a shorted or overloaded pin reads as it really is;
* relay boards on a PCF8574 are nearly always active-low (the weak high cannot drive a relay).
Releasing a pin leaves the chip driving it: the expander keeps its state when the gateway stops.

Losing power resets the latch to all ones. `check()` notices that when a claimed pin the shadow
drives low reads high (a latch 0 always reads 0, so that pin's latch is not ours any more); a chip
whose claimed pins are all latched high looks the same after a reset, and is in the same state.
`reinit(levels)` writes the whole shadow latch again, with the given pin levels.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found
from drivers.gpio.outputs import ExpanderOutput, OutputValueError

#: PCF8574 straps A2..A0 give 0x20-0x27; the PCF8574A variant answers at 0x38-0x3F (§7.1).
ADDRESSES = (*range(0x20, 0x28), *range(0x38, 0x40))
PINS = 8
POWER_ON_LATCH = 0xFF  # §8.3


class PCF8574:
    """One PCF8574 on a bus; hands out per-pin outputs with `output(pin)`."""

    def __init__(self, bus: SMBusLike, address: int = 0x20) -> None:
        self.address = check_address(address, ADDRESSES, "PCF8574")
        self._bus = bus
        self._latch = POWER_ON_LATCH
        self._claimed: set[int] = set()
        self._lock = threading.Lock()

    def open(self) -> None:
        """Probe the chip (a one-byte read); DeviceNotFound when nothing answers."""
        with missing_as_not_found(self.address, "PCF8574"):
            self._bus.read_byte(self.address)

    def output(self, pin: int, *, active_low: bool = False, initial: float = 0.0) -> ExpanderOutput:
        """Claim `pin` (0..7) as an output and drive it to `initial` at once."""
        if not isinstance(pin, int) or not 0 <= pin < PINS:
            raise OutputValueError(f"PCF8574 pins are 0..{PINS - 1}, got {pin!r}")
        if pin in self._claimed:
            raise OutputValueError(f"PCF8574 0x{self.address:02X} pin {pin} is already in use")
        out = ExpanderOutput(self, pin, active_low=active_low)
        out.set(initial)
        self._claimed.add(pin)
        return out

    def write_pin(self, pin: int, level: bool) -> None:
        with self._lock:
            latch = (self._latch | (1 << pin)) if level else (self._latch & ~(1 << pin))
            self._bus.write_byte(self.address, latch)
            self._latch = latch  # only after the chip acknowledged the byte

    def read_pin(self, pin: int) -> bool:
        return bool(self._bus.read_byte(self.address) >> pin & 1)

    def release_pin(self, pin: int) -> None:
        self._claimed.discard(pin)

    def check(self) -> str | None:
        """One read: None if the claimed pins agree with the shadow latch, else what differs (the
        chip reset behind our back). OSError when the chip does not answer."""
        pins = self._bus.read_byte(self.address)
        mask = sum(1 << p for p in self._claimed)
        if pins & ~self._latch & mask:  # driven low by our latch, yet high: the latch is not ours
            return f"pins read 0x{pins:02X}, the latch written was 0x{self._latch:02X}"
        return None

    def reinit(self, levels: Mapping[int, bool]) -> None:
        """Write the latch again (after a reset), with claimed `pin -> level` changes applied."""
        with self._lock:
            latch = self._latch
            for pin, level in levels.items():
                latch = (latch | (1 << pin)) if level else (latch & ~(1 << pin))
            self._bus.write_byte(self.address, latch)
            self._latch = latch
