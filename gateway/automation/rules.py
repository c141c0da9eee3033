"""A rule's condition as a pure state machine: values and `now` in, transitions out.

How it works. A rule watches one value (a sensor's quantity, a GPIO input's state, or a field of
the messages on a topic) and is either inactive or active. Its condition says when it becomes
active (`above` X, `below` X, or `equals` V) and, for numbers, when it returns to inactive
(`until_below` / `until_above`, the hysteresis; by default the negation of the condition). With
`for = T` a change takes effect only once the new condition has held for T seconds without
interruption: a pending change is cancelled by a value that contradicts it, and otherwise
completes at its deadline (`next_deadline()`; the glue calls `tick(now)` then) even if no newer
value arrives. When the watched value becomes unavailable (the sensor goes offline), `on_unavailable`
decides: "hold" keeps the state, "inactive" / "active" force one.
Transitions are returned, never acted on here: the service turns them into relay commands and
messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class State(str, Enum):
    INACTIVE = "inactive"
    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class Condition:
    above: float | None = None
    below: float | None = None
    equals: Any = None
    until_below: float | None = None  # with `above`: inactive again below this
    until_above: float | None = None  # with `below`: inactive again above this

    def activates(self, value: Any) -> bool | None:
        """True/False, or None when the value says nothing (not a number for a threshold)."""
        if self.equals is not None:
            return value == self.equals
        number = _number(value)
        if number is None:
            return None
        if self.above is not None:
            return number > self.above
        assert self.below is not None  # the config has above or below
        return number < self.below

    def deactivates(self, value: Any) -> bool | None:
        if self.equals is not None:
            return value != self.equals
        number = _number(value)
        if number is None:
            return None
        if self.above is not None:
            return (
                number < self.until_below if self.until_below is not None else number <= self.above
            )
        limit = self.until_above if self.until_above is not None else self.below
        assert limit is not None  # the config has above or below
        return number > limit if self.until_above is not None else number >= limit


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Transition:
    state: State
    value: Any
    at: float
    cause: str  # "condition" | "unavailable"


class RuleMachine:
    def __init__(
        self, condition: Condition, hold_for: float = 0.0, on_unavailable: str = "hold"
    ) -> None:
        self.condition, self.hold_for, self.on_unavailable = condition, hold_for, on_unavailable
        self.state = State.INACTIVE
        self.known = False  # no value seen yet: the first one may fire either way
        self._pending: tuple[State, float, Any] | None = None  # (target, since, value)

    def next_deadline(self) -> float | None:
        return None if self._pending is None else self._pending[1] + self.hold_for

    def observe(self, value: Any, now: float) -> list[Transition]:
        if self.state is State.INACTIVE or not self.known:
            wanted = self.condition.activates(value)
            target = State.ACTIVE if wanted else State.INACTIVE
        else:
            wanted = self.condition.deactivates(value)
            target = State.INACTIVE if wanted else State.ACTIVE
        if wanted is None:
            return []
        if target is self.state and self.known:
            self._pending = None
            return []
        if not self.known and target is State.INACTIVE:
            self.known = True  # starting inactive is no change: nothing to do
            self._pending = None
            return []
        if self.hold_for <= 0:
            return self._enter(target, value, now, "condition")
        if self._pending is None or self._pending[0] is not target:
            self._pending = (target, now, value)
        else:
            self._pending = (target, self._pending[1], value)
        return self.tick(now)

    def tick(self, now: float) -> list[Transition]:
        if self._pending is not None and now >= self._pending[1] + self.hold_for:
            target, _, value = self._pending
            return self._enter(target, value, now, "condition")
        return []

    def unavailable(self, now: float) -> list[Transition]:
        self._pending = None
        if self.on_unavailable == "hold":
            return []
        target = State(self.on_unavailable)
        if target is self.state and self.known:
            return []
        return self._enter(target, None, now, "unavailable")

    def _enter(self, target: State, value: Any, now: float, cause: str) -> list[Transition]:
        self._pending = None
        self.known = True
        self.state = target
        return [Transition(target, value, now, cause)]
