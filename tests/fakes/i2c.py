"""A fake SMBus that routes each call to a fake chip by address, like the kernel's i2c-dev.

How it works: every smbus2 call is reduced to the I2C transactions it puts on the wire, and each
transaction is handed to the chip registered at that address:

* ``chip.write(data: bytes)`` — one write transaction (START, address+W, the bytes, STOP);
* ``chip.read(length: int) -> bytes`` — one read transaction (START, address+R, bytes, STOP).

So ``read_byte_data(a, reg)`` is ``write(bytes([reg]))`` then ``read(1)``, ``write_byte_data`` is
``write(bytes([reg, value]))``, ``read_word_data`` returns the two bytes read **little-endian**
(the SMBus word order), and ``i2c_rdwr`` passes each message through in order. A chip NAKs by
raising ``nak()`` (OSError EREMOTEIO), exactly what smbus2 raises on a Pi; an address with no chip
NAKs every call. Register-map chips can subclass `RegisterChip` (8-bit register pointer with
auto-increment). `FakeClock` is the time source chips use to decide when a conversion is done;
drivers get its `sleep` so tests never sleep.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar


def nak(address: int) -> OSError:
    """The OSError smbus2 raises when nothing ACKs the address (errno 121 on the Pi)."""
    return OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO) + f" (0x{address:02X})")


class FakeClock:
    """Monotonic time in seconds that moves only when something sleeps on it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("negative sleep")
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeChip(Protocol):
    """A chip on the fake bus. Raise `nak(address)` to NAK a transaction."""

    def write(self, data: bytes) -> None: ...
    def read(self, length: int) -> bytes: ...


C = TypeVar("C", bound=FakeChip)


class RegisterChip:
    """A chip with 8-bit registers behind a register pointer that auto-increments on reads.

    `regs` holds the register file; subclasses override `on_write(register, value)` for side
    effects (starting conversions, resets) and `on_read(register)` to refresh a value just in time.
    Writing `[reg]` alone only sets the pointer, as on real register-map chips.
    """

    def __init__(self, address: int, size: int = 256) -> None:
        self.address = address
        self.regs = bytearray(size)
        self.pointer = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0]
        for offset, value in enumerate(data[1:]):
            self.on_write((self.pointer + offset) & 0xFF, value)

    def read(self, length: int) -> bytes:
        out = bytearray()
        for _ in range(length):
            out.append(self.on_read(self.pointer))
            self.pointer = (self.pointer + 1) & 0xFF
        return bytes(out)

    def on_write(self, register: int, value: int) -> None:
        self.regs[register] = value

    def on_read(self, register: int) -> int:
        return self.regs[register]


class FakeSMBus:
    """smbus2.SMBus look-alike: `attach(address, chip)` then hand it to a driver.

    It starts usable, as a bus handed straight to a driver. Like smbus2 it can be closed and opened
    again in place with `open(number)`; with `present = False` the adapter is missing and `open()`
    raises what smbus2's os.open raises for an absent /dev/i2c-N (FileNotFoundError)."""

    def __init__(self, *, present: bool = True) -> None:
        self.chips: dict[int, FakeChip] = {}
        self.closed = not present  # an absent adapter has no open file descriptor
        self.present = present
        self.opens = 0
        self.transactions = 0

    def open(self, bus: int) -> None:
        if self.opens and not self.closed:
            raise AssertionError("smbus2 would leak the open file descriptor")
        if not self.present:
            path = f"/dev/i2c-{bus}"
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        self.closed = False
        self.opens += 1

    def attach(self, address: int, chip: C) -> C:
        self.chips[address] = chip
        return chip

    def detach(self, address: int) -> None:
        del self.chips[address]

    def _chip(self, address: int) -> FakeChip:
        if self.closed:
            raise OSError(errno.EBADF, "bus is closed")
        self.transactions += 1
        try:
            return self.chips[address]
        except KeyError:
            raise nak(address) from None

    def _write(self, address: int, data: Sequence[int]) -> None:
        if any(not 0 <= b <= 0xFF for b in data):
            raise ValueError(f"byte out of range in {list(data)!r}")
        self._chip(address).write(bytes(data))

    def _read(self, address: int, length: int) -> bytes:
        data = self._chip(address).read(length)
        assert len(data) == length, "fake chip returned the wrong number of bytes"
        return data

    # -- the smbus2 subset (drivers/bus/i2c.py) --
    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        self._write(i2c_addr, [value])

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        return self._read(i2c_addr, 1)[0]

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        self._write(i2c_addr, [register, value])

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        self._write(i2c_addr, [register])
        return self._read(i2c_addr, 1)[0]

    def read_word_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        self._write(i2c_addr, [register])
        return int.from_bytes(self._read(i2c_addr, 2), "little")

    def write_word_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        self._write(i2c_addr, [register, value & 0xFF, value >> 8])

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        if not 1 <= length <= 32:
            raise ValueError("Desired block length over 32 bytes")  # smbus2's own limit
        self._write(i2c_addr, [register])
        return list(self._read(i2c_addr, length))

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        if len(data) > 32:
            raise ValueError("Data length cannot exceed 32 bytes")
        self._write(i2c_addr, [register, *data])

    def i2c_rdwr(self, *i2c_msgs: Any) -> None:  # smbus2's i2c_msg (untyped ctypes)
        for msg in i2c_msgs:
            if msg.flags & 0x0001:  # I2C_M_RD
                data = self._read(msg.addr, msg.len)
                ctypes.memmove(msg.buf, data, msg.len)
            else:
                self._write(msg.addr, list(msg))

    def close(self) -> None:
        self.closed = True
