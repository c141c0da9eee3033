"""Shared input-pin plumbing for GPIO inputs and pulse counters: pull configuration, active-low
logic, debouncing, and `EdgeInput`, the base both drivers build on (open, close, edge handling).

How debouncing works: gpiozero's pin factories disagree on what `bounce` means (lgpio waits for the
level to be stable, RPi.GPIO ignores edges after an edge, MockFactory ignores it), so the driver does
it itself, the same on every factory: the first edge is accepted at once (no added latency), and edges
within `bounce_time` seconds of the last accepted edge are ignored. Time is the `ticks` the pin factory
passes with each edge, compared with the factory's own `ticks_diff`. An ignored edge can hide the final
level after a glitch; the drivers' `read()` returns the pin's real level, so the next poll repairs it.
"""

from __future__ import annotations

import abc
import threading
from typing import Any

from drivers.base import Driver

PULLS = {"up": True, "down": False, "none": None}  # gpiozero's pull_up argument


def check_input_options(pin: int | str, pull: str, bounce_time: float | None) -> None:
    """Raise ValueError for options no pin can honour."""
    if isinstance(pin, bool) or not isinstance(pin, (int, str)) or pin in ("", None):
        raise ValueError(f"GPIO pin must be a BCM number or a gpiozero pin name, not {pin!r}")
    if pull not in PULLS:
        raise ValueError(f"pull must be one of {', '.join(PULLS)}, not {pull!r}")
    if bounce_time is not None and not 0 < bounce_time <= 10:
        raise ValueError(f"bounce_time must be in (0, 10] seconds, not {bounce_time!r}")


def open_input(pin: int | str, pull: str, pin_factory: Any) -> Any:
    """A gpiozero InputDevice on `pin` with the pull resistor set. Polarity is handled by the caller
    (raw pin levels), so a pull-up input may still be active-high."""
    from gpiozero import InputDevice  # lazily: gpiozero is an optional dependency

    if pin_factory is None:
        from drivers.bus.gpio import default_factory

        pin_factory = default_factory()
    pull_up = PULLS[pull]
    device = InputDevice(
        pin,
        pull_up=pull_up,
        active_state=True if pull_up is None else None,
        pin_factory=pin_factory,
    )
    device.pin.edges = "both"
    return device


class Debouncer:
    """Accepts an edge unless it comes within `bounce_time` of the last accepted one. Thread-safe."""

    def __init__(self, bounce_time: float | None, ticks_diff: Any) -> None:
        self._bounce = bounce_time
        self._ticks_diff = ticks_diff
        self._last: Any = None
        self._lock = threading.Lock()
        self.ignored = 0

    def accept(self, ticks: Any) -> bool:
        with self._lock:
            if (
                self._bounce
                and self._last is not None
                and self._ticks_diff(ticks, self._last) < self._bounce
            ):
                self.ignored += 1
                return False
            self._last = ticks
            return True


class EdgeInput(Driver):
    """An input pin whose debounced edges reach `_edge(active)` on gpiozero's event thread.

    `active_low` says which pin level is active; it defaults to True with a pull-up (the switch
    shorts the pin to ground) and False otherwise. A subclass opens the pin with `_open_pin()`
    (which returns whether it is active now), sets up its own state, then calls `_listen()`."""

    def __init__(
        self,
        pin: int | str,
        pull: str,
        active_low: bool | None,
        bounce_time: float | None,
        pin_factory: Any,
    ) -> None:
        check_input_options(pin, pull, bounce_time)
        self.pin_number, self.pull = pin, pull
        self.active_low = (pull == "up") if active_low is None else active_low
        self.bounce_time = bounce_time
        self._factory = pin_factory
        self._device: Any = None
        self._debouncer: Debouncer | None = None

    def _open_pin(self) -> bool:
        self._device = open_input(self.pin_number, self.pull, self._factory)
        self._debouncer = Debouncer(self.bounce_time, self._device.pin_factory.ticks_diff)
        return self._is_active(self._device.pin.state)

    def _listen(self) -> None:
        self._device.pin.when_changed = self._on_edge

    def close(self) -> None:
        if self._device is not None:
            self._device.pin.when_changed = None
            self._device.close()
            self._device = None

    @property
    def ignored_edges(self) -> int:
        """Edges dropped by the debouncer since open()."""
        return self._debouncer.ignored if self._debouncer else 0

    def _is_active(self, level: Any) -> bool:
        return bool(level) != self.active_low

    def _on_edge(self, ticks: Any, level: Any) -> None:
        if self._debouncer is None or not self._debouncer.accept(ticks):
            return
        self._edge(self._is_active(level))

    @abc.abstractmethod
    def _edge(self, active: bool) -> None:
        """A debounced edge; `active` is the input's state after it."""
