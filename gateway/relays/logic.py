"""The relay safety rules as a pure state machine: commands and `now` in, switches and refusals out.

How it works: `RelayLogic` holds, per output, its level (0 = off, 1 = on, a duty in between for PWM),
when it last turned on and off, and its deadlines. The glue feeds it

* `power_on(restored, now)` once, to learn each output's start-up level, and `power_on_one` for an
  output whose device opens only later;
* `command(cmd, now)` for every admitted command -> a `Switch` to apply or a `Refusal` to report;
* `tick(now)` whenever `now >= next_deadline()` -> switches that timers demand;
* `observe(name, level, now)` with the level read back after every write, so a write that did not
  take effect corrects the state (the read-back is the truth);
* `lose(name)` when the output's device stops answering (or reset), and `restore(name, now,
  reset=...)` when it answers again -> the level to drive it to (see "device loss" below);
* `stop(now)` at shutdown -> the on_stop switches, all "off" ones before any "on" one.

Rules (each has a test in tests/unit/relays/test_logic.py):
* interlock — an output may not turn on while an interlock partner is on (turning off is never
  refused);
* minimum off-time — an output may not turn on until `min_off_seconds` after it turned off. The
  gateway cannot know when an output last turned off before it started, so start-up counts as a
  turn-off: a power-on "on" for such an output is deferred by `min_off_seconds`;
* maximum on-time — an output on for `max_on_seconds` is turned off (reason `max_on_time`). It counts
  from the moment the output turned on; repeating ON does not extend it;
* timed on — `ON` with a duration turns off after it (reason `timer`); a duration longer than the
  maximum on-time is refused; a later plain ON cancels the timer, a later timed ON replaces it.
* device loss — while an output's device is lost its physical state is unknown. The logic keeps
  the state it holds as current: timers still turn it off (applied when the device is back), an
  interlock partner still sees it as on, a deferred power-on waits. When the device answers again
  the output is driven to that state (reason `restored`). If the device had kept its registers,
  that is all. If it had reset, an output held on may have dropped out meanwhile: one with
  `min_off_seconds` counts as turned off now and is turned on again only after min_off_seconds
  (a timed on only if its time is not up by then); one without is turned on again at once, its
  maximum on-time still counted from when it first turned on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from gateway.relays.config import OutputConfig, interlock_partners


class Action(StrEnum):
    ON = "ON"
    OFF = "OFF"
    TOGGLE = "TOGGLE"


class Reason(StrEnum):
    """Why an output switched, or why a command was refused."""

    COMMAND = "command"
    TIMER = "timer"
    MAX_ON_TIME = "max_on_time"
    POWER_ON = "power_on"
    RESTORED = "restored"
    DEVICE_LOST = "device_lost"
    STOP = "stop"
    READBACK = "readback"
    RETAINED = "retained"
    EXPIRED = "expired"
    CLOCK_UNSYNCED = "clock_unsynced"
    UNAVAILABLE = "unavailable"
    INTERLOCK = "interlock"
    MIN_OFF_TIME = "min_off_time"
    INVALID = "invalid"
    UNKNOWN_OUTPUT = "unknown_output"


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command. `level` is a PWM duty 0 < level <= 1 (None: the last one used, or full);
    `duration` is seconds to stay on before turning off by itself."""

    output: str
    action: Action
    level: float | None = None
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class Switch:
    output: str
    level: float
    reason: Reason


@dataclass(frozen=True, slots=True)
class Refusal:
    output: str
    reason: Reason
    detail: str


Decision = Switch | Refusal


class _State:
    """Mutable bookkeeping for one output (private to RelayLogic)."""

    __slots__ = (
        "last_on_level",
        "level",
        "lost",
        "max_at",
        "off_at",
        "off_since",
        "on_since",
        "pending_on",
    )

    def __init__(self, now: float) -> None:
        self.level = 0.0
        self.last_on_level = 1.0
        self.off_since = now  # start-up counts as a turn-off (see the module docstring)
        self.on_since: float | None = None  # when it last turned on (maximum on-time)
        self.off_at: float | None = None  # end of a timed on
        self.max_at: float | None = None  # end of the maximum on-time
        self.pending_on: _PendingOn | None = None  # a deferred power-on (or restore)
        self.lost = False  # its device does not answer: a pending on waits for `restore`

    def deadlines(self) -> list[float]:
        pending = [self.pending_on.when] if self.pending_on and not self.lost else []
        return [d for d in (self.off_at, self.max_at, *pending) if d is not None]


@dataclass(frozen=True, slots=True)
class _PendingOn:
    when: float
    level: float
    reason: Reason
    off_at: float | None = None  # the end of the timed on it resumes


class RelayLogic:
    def __init__(self, outputs: Sequence[OutputConfig], now: float) -> None:
        self._cfg = {o.name: o for o in outputs}
        self._partners = interlock_partners(outputs)
        self._state = {o.name: _State(now) for o in outputs}

    # -- queries ---------------------------------------------------------------------------------
    def level(self, name: str) -> float:
        return self._state[name].level

    def is_timed(self, name: str) -> bool:
        """True while a timed on ("for") is running: such a state is not worth restoring."""
        return self._state[name].off_at is not None

    def next_deadline(self) -> float | None:
        deadlines = [d for s in self._state.values() for d in s.deadlines()]
        return min(deadlines, default=None)

    # -- inputs ----------------------------------------------------------------------------------
    def power_on(self, restored: Mapping[str, float], now: float) -> list[Decision]:
        """One Switch per output (its start-up level, in config order), after any Refusal that
        explains why an output starts off."""
        out: list[Decision] = []
        for name in self._cfg:
            out.extend(self.power_on_one(name, restored, now))
        return out

    def power_on_one(self, name: str, restored: Mapping[str, float], now: float) -> list[Decision]:
        """The power-on rule for one output, also for one whose device opens only later: its
        power_on level, unless an interlock partner is on (Refusal, then off) or min_off_seconds
        defers it."""
        cfg = self._cfg[name]
        want = {"off": 0.0, "on": 1.0, "restore": restored.get(name, 0.0)}[cfg.power_on]
        return self._power_on_one(name, want, now)

    def command(self, cmd: Command, now: float) -> Decision:
        state = self._state.get(cmd.output)
        if state is None:
            return Refusal(cmd.output, Reason.UNKNOWN_OUTPUT, f"no output named {cmd.output!r}")
        action = cmd.action
        if action is Action.TOGGLE:
            action = Action.OFF if state.level > 0 else Action.ON
        if action is Action.OFF:
            return self._turn_off(cmd.output, now, Reason.COMMAND)
        return self._command_on(cmd, now)

    def tick(self, now: float) -> list[Decision]:
        """Everything the timers demand at `now`."""
        out: list[Decision] = []
        for name, state in self._state.items():
            if state.pending_on and state.pending_on.when <= now and not state.lost:
                pending, state.pending_on = state.pending_on, None
                duration = pending.off_at - now if pending.off_at is not None else None
                out.append(self._turn_on(name, pending.level, duration, now, pending.reason))
            due = [
                (d, r)
                for d, r in ((state.off_at, Reason.TIMER), (state.max_at, Reason.MAX_ON_TIME))
                if d is not None and d <= now
            ]
            if due:
                out.append(self._turn_off(name, now, min(due)[1]))
        return out

    def observe(self, name: str, level: float, now: float) -> None:
        """Record the level read back from the device. If it is not what was decided (a failed
        write, a chip that reset), the read-back wins: timers follow the real state."""
        state = self._state[name]
        if (level > 0) == (state.level > 0):
            state.level = level
        elif level > 0:
            self._mark_on(name, level, now)
        else:
            self._mark_off(state, now)

    def lose(self, name: str) -> None:
        """The output's device stopped answering: hold its state (see "device loss")."""
        self._state[name].lost = True

    def restore(self, name: str, now: float, *, reset: bool) -> list[Decision]:
        """Its device answers again (after `lose`): the level to drive the output to, after any
        Refusal that explains why an output held on ends off. `reset`: the device had lost what
        was written to it (see "device loss")."""
        state, cfg = self._state[name], self._cfg[name]
        state.lost = False
        if state.level <= 0 or not reset:
            return [Switch(name, state.level, Reason.RESTORED)]
        if busy := sorted(p for p in self._partners[name] if self._state[p].level > 0):
            self._mark_off(state, now)
            return [
                Refusal(
                    name,
                    Reason.INTERLOCK,
                    f"not restored on: interlocked with {', '.join(busy)}, which is on",
                ),
                Switch(name, 0.0, Reason.RESTORED),
            ]
        if cfg.min_off_seconds:
            level, off_at = state.level, state.off_at
            self._mark_off(state, now)
            when = now + cfg.min_off_seconds
            if off_at is None or off_at > when:
                state.pending_on = _PendingOn(when, level, Reason.RESTORED, off_at)
            return [Switch(name, 0.0, Reason.RESTORED)]
        return [Switch(name, state.level, Reason.RESTORED)]

    def stop(self, now: float, names: Sequence[str] | None = None) -> list[Decision]:
        """The on_stop switches of `names` (default: every output): every "off" first, then every
        "on" (so interlocks hold throughout). Outputs with on_stop = "keep" are left as they are."""
        cfgs = [self._cfg[n] for n in (self._cfg if names is None else names)]
        for c in cfgs:
            state = self._state[c.name]
            state.pending_on = state.off_at = state.max_at = None
        offs: list[Decision] = [
            self._turn_off(c.name, now, Reason.STOP) for c in cfgs if c.on_stop == "off"
        ]
        ons = [
            self._turn_on(c.name, self._state[c.name].last_on_level, None, now, Reason.STOP)
            for c in cfgs
            if c.on_stop == "on"
        ]
        return offs + ons

    def reconfigured(
        self, outputs: Sequence[OutputConfig], keep: Sequence[str], now: float
    ) -> tuple[RelayLogic, list[Switch]]:
        """A reload: the logic for the new `outputs`, carrying over the state of the outputs in
        `keep` (their output did not change: their level, timers and off-time go on; a changed
        max_on_seconds counts from when the output turned on). Returns it with the switches the
        new interlocks demand: of two newly interlocked outputs that are both on, the one later
        in the config is turned off (reason `interlock`), as no command could have made that
        state."""
        logic = RelayLogic(outputs, now)
        for name in keep:
            state = logic._state[name] = self._state[name]
            max_on = logic._cfg[name].max_on_seconds
            on_since = state.on_since if state.on_since is not None else now
            state.max_at = on_since + max_on if max_on and state.level > 0 else None
        order = {name: i for i, name in enumerate(logic._cfg)}
        switches: list[Switch] = []
        for name in logic._cfg:
            if logic._state[name].level > 0 and any(
                order[p] < order[name] and logic._state[p].level > 0 for p in logic._partners[name]
            ):
                switches.append(logic._turn_off(name, now, Reason.INTERLOCK))
        return logic, switches

    # -- rules -----------------------------------------------------------------------------------
    def _power_on_one(self, name: str, level: float, now: float) -> list[Decision]:
        cfg = self._cfg[name]
        if level <= 0:
            return [Switch(name, 0.0, Reason.POWER_ON)]
        if cfg.min_off_seconds:
            self._state[name].pending_on = _PendingOn(
                now + cfg.min_off_seconds, level, Reason.POWER_ON
            )
            return [Switch(name, 0.0, Reason.POWER_ON)]
        decision = self._turn_on(name, level, None, now, Reason.POWER_ON)
        return (
            [decision]
            if isinstance(decision, Switch)
            else [decision, Switch(name, 0.0, Reason.POWER_ON)]
        )

    def _command_on(self, cmd: Command, now: float) -> Decision:
        cfg, state = self._cfg[cmd.output], self._state[cmd.output]
        if problem := _invalid_on(cmd, cfg):
            return Refusal(cmd.output, Reason.INVALID, problem)
        level = cmd.level if cmd.level is not None else (state.last_on_level if cfg.pwm else 1.0)
        return self._turn_on(cmd.output, level, cmd.duration, now, Reason.COMMAND)

    def _turn_on(
        self, name: str, level: float, duration: float | None, now: float, reason: Reason
    ) -> Decision:
        state = self._state[name]
        if state.level <= 0:
            if refusal := self._blocked(name, now):
                return refusal
            self._mark_on(name, level, now)
        state.level = state.last_on_level = level
        state.pending_on = None
        state.off_at = now + duration if duration is not None else None
        return Switch(name, level, reason)

    def _blocked(self, name: str, now: float) -> Refusal | None:
        busy = sorted(p for p in self._partners[name] if self._state[p].level > 0)
        if busy:
            return Refusal(
                name, Reason.INTERLOCK, f"interlocked with {', '.join(busy)}, which is on"
            )
        min_off = self._cfg[name].min_off_seconds
        ready_at = self._state[name].off_since + (min_off or 0.0)
        if now < ready_at:
            return Refusal(
                name,
                Reason.MIN_OFF_TIME,
                f"minimum off-time: {ready_at - now:.1f} s left of {min_off:g} s",
            )
        return None

    def _turn_off(self, name: str, now: float, reason: Reason) -> Switch:
        state = self._state[name]
        state.pending_on = None
        if state.level > 0:
            self._mark_off(state, now)
        return Switch(name, 0.0, reason)

    def _mark_on(self, name: str, level: float, now: float) -> None:
        state, max_on = self._state[name], self._cfg[name].max_on_seconds
        state.level = level
        state.on_since = now
        state.max_at = now + max_on if max_on else None

    def _mark_off(self, state: _State, now: float) -> None:
        state.level = 0.0
        state.off_since = now
        state.off_at = state.max_at = state.on_since = None


def _invalid_on(cmd: Command, cfg: OutputConfig) -> str | None:
    """Why an ON command cannot be carried out as given, or None."""
    if cmd.level is not None:
        if not cfg.pwm:
            return f"{cfg.name} is not a PWM output; it takes no brightness"
        if not (math.isfinite(cmd.level) and 0 < cmd.level <= 1):
            return f"brightness must be within 0..100 %, got {cmd.level * 100:g}"
    if cmd.duration is not None:
        if not (math.isfinite(cmd.duration) and cmd.duration > 0):
            return f"'for' must be a positive number of seconds, got {cmd.duration:g}"
        if cfg.max_on_seconds and cmd.duration > cfg.max_on_seconds:
            return f"'for' {cmd.duration:g} s exceeds max_on_seconds {cfg.max_on_seconds:g} s"
    return None
