"""A gpiozero mock pin that records every write, for tests that a reload leaves an output alone."""

from __future__ import annotations

from typing import Any

from gpiozero.pins.mock import MockPWMPin


class RecordingPin(MockPWMPin):
    """Records every state and function written to the pin, also one that changes nothing."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.writes: list[Any] = []
        super().__init__(*args, **kw)

    def _set_state(self, value: float) -> None:
        self.writes.append(value)
        super()._set_state(value)

    def _set_function(self, value: str) -> None:
        self.writes.append(value)
        super()._set_function(value)
