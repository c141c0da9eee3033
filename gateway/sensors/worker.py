"""Blocking driver calls in a thread, under a timeout, at most one at a time per sensor.

Each call runs in a fresh daemon thread (reads are seconds apart, so the cost is nothing) and its
result comes back to the loop with call_soon_threadsafe. If the call outlives its timeout the caller
gets `SensorTimeout`, and while that thread is still stuck every further call gets `SensorBusy`
without starting a thread: a hung driver holds one thread, never more. Daemon threads never keep the
process from exiting. Sensors that share a bus or port share a `threading.Lock`, taken inside the
thread, so their transactions never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

from gateway.sensors.clock import Clock

T = TypeVar("T")


class SensorTimeout(TimeoutError):
    """The driver call did not return within the sensor's timeout."""


class SensorBusy(RuntimeError):
    """The previous driver call of this sensor is still running (hung)."""


def run_in_thread(
    fn: Callable[[], T], name: str, lock: threading.Lock | None = None
) -> asyncio.Future[T]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    future.add_done_callback(_consume)

    def work() -> None:
        try:
            if lock is None:
                result = fn()
            else:
                with lock:
                    result = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, re-raised there
            _deliver(loop, future, None, exc)
        else:
            _deliver(loop, future, result, None)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future


def _deliver(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future,
    result: object,
    exc: BaseException | None,
) -> None:
    def settle() -> None:
        if future.done():
            return
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
        loop.call_soon_threadsafe(settle)


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # a late failure after a timeout is not "never retrieved"


class Worker:
    def __init__(self, name: str, clock: Clock, lock: threading.Lock | None = None) -> None:
        self.name, self._clock, self._lock = name, clock, lock
        self._pending: asyncio.Future | None = None

    @property
    def busy(self) -> bool:
        return self._pending is not None and not self._pending.done()

    async def call(self, fn: Callable[[], T], timeout: float) -> T:
        if self.busy:
            raise SensorBusy(f"sensor {self.name}: the previous call is still running")
        future = self._pending = run_in_thread(fn, f"sensor-{self.name}", self._lock)
        timer = asyncio.create_task(self._clock.sleep(timeout), name=f"sensor-timeout:{self.name}")
        try:
            await asyncio.wait((future, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if not future.done():
            raise SensorTimeout(f"sensor {self.name}: no answer within {timeout:g} s")
        return future.result()
