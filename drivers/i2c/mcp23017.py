"""MCP23017: 16-bit I/O expander with an I2C interface (Microchip DS20001952C).

How it works: two 8-bit ports, A (pins 0..7 = GPA0..7) and B (pins 8..15 = GPB0..7). For each port
IODIR sets the direction (1 = input, the power-on value), OLAT holds the output latch and GPIO reads
the pin levels (§3.5). The driver assumes IOCON.BANK = 0, the power-on default (table 3-4), where
the A and B registers of a pair sit at consecutive addresses; it never changes IOCON.

Claiming an output writes the latch bit *first* and only then turns the pin into an output, so the
pin never glitches to the wrong level. `read_pin` reads the GPIO register: the real pin level.
Latch updates are read-modify-write of OLAT under a lock, so pins of one chip can be shared.
Releasing a pin leaves it driven: the expander keeps its state when the gateway stops.

Losing power resets the chip (IODIR = 0xFF: every pin an input, OLAT = 0, table 3-3). The driver
keeps a shadow of the latch bits of its claimed pins, so `check()` (two 2-byte reads: IODIRA/B,
OLATA/B) tells whether the chip still holds what we set, and `reinit(levels)` writes the latch and
then the direction again, latch first as at claim time.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found
from drivers.gpio.outputs import ExpanderOutput, OutputValueError

ADDRESSES = tuple(range(0x20, 0x28))  # A2..A0 straps (§3.3.1)
PINS = 16

# Register addresses with IOCON.BANK = 0 (table 3-4): (port A, port B).
IODIR = (0x00, 0x01)
IPOL = (0x02, 0x03)
GPPU = (0x0C, 0x0D)
GPIO = (0x12, 0x13)
OLAT = (0x14, 0x15)
IOCON = 0x0A


class MCP23017:
    """One MCP23017 on a bus; hands out per-pin outputs with `output(pin)`."""

    def __init__(self, bus: SMBusLike, address: int = 0x20) -> None:
        self.address = check_address(address, ADDRESSES, "MCP23017")
        self._bus = bus
        self._claimed: set[int] = set()
        self._latch = 0  # shadow of OLATB:OLATA, the bits of claimed pins as last written
        self._lock = threading.Lock()

    def open(self) -> None:
        """Probe the chip (read IOCON); DeviceNotFound when nothing answers."""
        with missing_as_not_found(self.address, "MCP23017"):
            self._bus.read_byte_data(self.address, IOCON)

    def output(self, pin: int, *, active_low: bool = False, initial: float = 0.0) -> ExpanderOutput:
        """Claim `pin` (0..15) as an output: set its latch to `initial`, then make it an output."""
        if not isinstance(pin, int) or not 0 <= pin < PINS:
            raise OutputValueError(f"MCP23017 pins are 0..{PINS - 1}, got {pin!r}")
        if pin in self._claimed:
            raise OutputValueError(f"MCP23017 0x{self.address:02X} pin {pin} is already in use")
        out = ExpanderOutput(self, pin, active_low=active_low)
        out.set(initial)
        port, bit = divmod(pin, 8)
        with self._lock:
            self._merge(IODIR[port], 1 << bit, 0x00)
        self._claimed.add(pin)
        return out

    def write_pin(self, pin: int, level: bool) -> None:
        port, bit = divmod(pin, 8)
        with self._lock:
            self._merge(OLAT[port], 1 << bit, 0xFF if level else 0x00)
            self._latch = _with_bit(self._latch, pin, level)  # only after the chip took it

    def read_pin(self, pin: int) -> bool:
        port, bit = divmod(pin, 8)
        return bool(self._bus.read_byte_data(self.address, GPIO[port]) >> bit & 1)

    def release_pin(self, pin: int) -> None:
        self._claimed.discard(pin)

    def check(self) -> str | None:
        """None if every claimed pin is still an output at the latch level we wrote, else what
        differs (the chip reset behind our back). OSError when the chip does not answer."""
        iodir = _word(self._bus.read_i2c_block_data(self.address, IODIR[0], 2))
        olat = _word(self._bus.read_i2c_block_data(self.address, OLAT[0], 2))
        mask = sum(1 << p for p in self._claimed)
        if iodir & mask or (olat ^ self._latch) & mask:
            return (
                f"IODIR 0x{iodir:04X}, OLAT 0x{olat:04X}; expected outputs 0x{mask:04X} "
                f"latched at 0x{self._latch & mask:04X}"
            )
        return None

    def reinit(self, levels: Mapping[int, bool]) -> None:
        """Set up the claimed pins again (after a reset): latch first, with the given `pin ->
        level` changes applied, then direction, so no pin glitches."""
        latch = self._latch
        for pin, level in levels.items():
            latch = _with_bit(latch, pin, level)
        mask = sum(1 << p for p in self._claimed)
        with self._lock:
            for port in (0, 1):
                bits, want = mask >> 8 * port & 0xFF, latch >> 8 * port & 0xFF
                if bits:
                    self._merge(OLAT[port], bits, want)
                    self._merge(IODIR[port], bits, 0x00)
            self._latch = latch

    def _merge(self, register: int, bits: int, value: int) -> None:
        """Read-modify-write: set `bits` of `register` to those of `value` (hold the lock)."""
        old = self._bus.read_byte_data(self.address, register)
        new = old & ~bits | value & bits
        if new != old:
            self._bus.write_byte_data(self.address, register, new)


def _with_bit(word: int, pin: int, level: bool) -> int:
    return (word | (1 << pin)) if level else (word & ~(1 << pin))


def _word(pair: Sequence[int]) -> int:
    """Port A in the low byte, port B in the high byte (pin numbering 0..15)."""
    return pair[0] | pair[1] << 8
