"""The I/O half shared by the serial drivers: pump bytes from a pyserial port into a decoder.

A decoder is sans-IO: `feed(data) -> list[frame]`, and it keeps the errors it met (bad checksums,
garbage) in `errors` instead of raising, so one bad frame never loses the good one after it.
`collect()` reads until the caller has what it wants or the timeout passes, then turns "nothing
at all" into DeviceNotFound and "only bad frames" into the decoder's last error.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from drivers.base import DeviceNotFound, DriverError, InvalidReading

F = TypeVar("F")
MAX_ERRORS = 16


class SerialPort(Protocol):
    """The subset of pyserial's Serial that drivers use."""

    timeout: float | None

    @property
    def in_waiting(self) -> int: ...
    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def reset_input_buffer(self) -> None: ...


class Decoder(Protocol[F]):
    errors: list[DriverError]

    def feed(self, data: bytes) -> list[F]: ...


def record(errors: list[DriverError], error: DriverError) -> None:
    """Keep the most recent MAX_ERRORS errors (a bounded list: drop the oldest)."""
    errors.append(error)
    del errors[:-MAX_ERRORS]


def collect(
    port: SerialPort,
    decoder: Decoder[F],
    done: Callable[[list[F]], bool],
    *,
    timeout: float,
    what: str,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[F]:
    """Feed port bytes to `decoder` until `done(frames)` or `timeout` seconds pass."""
    deadline = monotonic() + timeout
    frames: list[F] = []
    seen = 0
    errors_before = len(decoder.errors)
    while not done(frames):
        if monotonic() >= deadline:
            raise _timeout_error(decoder, seen, errors_before, timeout, what)
        data = port.read(max(1, port.in_waiting))
        seen += len(data)
        frames.extend(decoder.feed(data))
    return frames


def _timeout_error(
    decoder: Decoder[Any], seen: int, errors_before: int, timeout: float, what: str
) -> Exception:
    if seen == 0:
        return DeviceNotFound(errno.ETIMEDOUT, f"{what}: no data within {timeout} s")
    if len(decoder.errors) > errors_before:
        return decoder.errors[-1]
    return InvalidReading(f"{what}: {seen} bytes but no complete frame within {timeout} s")


def latest(frames: list[F], port: SerialPort) -> bool:
    """A `done` predicate for streaming devices: at least one frame and nothing more waiting."""
    return bool(frames) and port.in_waiting == 0
