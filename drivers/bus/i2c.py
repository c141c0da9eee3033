"""The I2C seam: the subset of smbus2's `SMBus` API that drivers may use, and bus recovery.

Drivers receive an object with this interface in their constructor. On a Pi it is `smbus2.SMBus`
(from `open_bus(number)`); in tests it is `tests.fakes.i2c.FakeSMBus`, which routes each call to a
fake chip by address. smbus2 is imported lazily, so importing a driver never needs it.

Raw transactions (a write, then a separate read, as SHT3x/SHT4x/BH1750 need) go through `i2c_rdwr`
with messages built by `write_msg` / `read_msg`; `write_raw` / `read_raw` wrap that pattern.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from drivers.base import DeviceNotFound

log = logging.getLogger(__name__)

#: errno values with which the Linux i2c drivers report "no ACK from the address"
#: (EREMOTEIO from i2c-bcm2835/designware, ENXIO from some adapters, EIO from i2c-gpio).
NO_ACK_ERRNOS = frozenset({errno.EREMOTEIO, errno.ENXIO, errno.EIO})


class SMBusLike(Protocol):
    """What a driver may call on its bus (names and argument order as in smbus2)."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...
    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...
    def read_word_data(self, i2c_addr: int, register: int) -> int: ...
    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...
    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None: ...
    def read_byte(self, i2c_addr: int) -> int: ...
    def write_byte(self, i2c_addr: int, value: int) -> None: ...
    def i2c_rdwr(self, *i2c_msgs: Any) -> None: ...
    def close(self) -> None: ...


def open_bus(number: int) -> SMBusLike:
    """Open `/dev/i2c-<number>` with smbus2 (imported here, so drivers do not need it)."""
    if not isinstance(number, int) or number < 0:
        raise ValueError(f"I2C bus number must be a non-negative int, got {number!r}")
    import smbus2

    return smbus2.SMBus(number)


def write_msg(address: int, data: Sequence[int]) -> Any:
    """An `i2c_msg` that writes `data` to `address` (one I2C write transaction)."""
    from smbus2 import i2c_msg

    return i2c_msg.write(address, list(data))


def read_msg(address: int, length: int) -> Any:
    """An `i2c_msg` that reads `length` bytes from `address` (one I2C read transaction)."""
    from smbus2 import i2c_msg

    return i2c_msg.read(address, length)


def write_raw(bus: SMBusLike, address: int, data: Sequence[int]) -> None:
    """Write bytes in one transaction, with no register byte in front (a command)."""
    bus.i2c_rdwr(write_msg(address, data))


def read_raw(bus: SMBusLike, address: int, length: int) -> bytes:
    """Read bytes in one transaction, with no register write before it."""
    msg = read_msg(address, length)
    bus.i2c_rdwr(msg)
    return bytes(msg)


def check_address(address: int, allowed: Sequence[int], chip: str) -> int:
    """Validate a 7-bit address against the chip's strap options (a clear error, not a NAK later)."""
    if address not in allowed:
        options = ", ".join(f"0x{a:02X}" for a in allowed)
        raise ValueError(f"{chip}: address 0x{address:02X} is not one of its addresses ({options})")
    return address


@contextmanager
def missing_as_not_found(address: int, chip: str) -> Iterator[None]:
    """Turn the kernel's "no ACK" OSError into DeviceNotFound (still an OSError) during a probe."""
    try:
        yield
    except DeviceNotFound:
        raise
    except OSError as exc:
        if exc.errno in NO_ACK_ERRNOS:
            message = f"{chip}: no device answers at 0x{address:02X}"
            raise DeviceNotFound(exc.errno, message) from exc
        raise


def recover_bus(
    bus: SMBusLike | None, number: int, opener: Callable[[int], SMBusLike] = open_bus
) -> SMBusLike:
    """Close the bus file descriptor and open a fresh one; return the new bus.

    What it can do: clear a wedged file descriptor and a stale slave address / PEC / 10-bit
    setting, and let the kernel adapter driver (i2c-bcm2835, i2c-designware on the Pi 5) start
    afresh on the next transfer; those adapters already time out and reset a hung transfer.
    What it cannot do: a slave holding SDA low mid-byte needs up to 9 SCL pulses and a STOP,
    which only the adapter (`i2c_recover_bus()` in the kernel, used by i2c-gpio and some
    controllers) or switching the pins to GPIO can produce; smbus2 has no access to that. A chip
    that stays stuck needs its power cycled (a relay or a load switch on its supply).
    """
    if bus is not None:
        try:
            bus.close()
        except OSError as exc:
            log.warning("i2c-%d: closing the wedged bus failed: %s", number, exc)
    log.warning("i2c-%d: reopening the bus to recover it", number)
    return opener(number)
