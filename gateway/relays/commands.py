"""Command payloads: parsing and admission (pure; time is an argument).

Accepted payloads on `<base>/relay/<name>/set`:

* ``ON``, ``OFF``, ``TOGGLE`` (case-insensitive, surrounding white space ignored);
* a JSON object with the keys
  - ``state``: ``"ON"`` / ``"OFF"`` / ``"TOGGLE"`` (defaults to ``"ON"`` when ``for`` or
    ``brightness`` is given),
  - ``for``: seconds to stay on, then turn off by itself,
  - ``brightness``: PWM duty in percent, 0..100 (0 means OFF),
  - ``expires``: when the command stops being valid — epoch seconds or ISO-8601 with a zone,
  - ``ts``: when the command was issued (same forms), checked against the output's
    ``max_command_age``.
  Any other key is an error, as is a naive ISO-8601 time (no zone).

Admission (`admit`): a command that arrived with the retain flag is ignored unless the output has
``accept_retained = true``; a command past its ``expires`` time, or older than ``max_command_age``
by its ``ts``, is ignored; while the gateway's clock is not synchronised, a command with
``expires`` or ``ts`` is ignored with reason ``clock_unsynced``. A command without ``ts`` passes the age check (Home Assistant and most
tools send none). MQTT 5 message expiry needs nothing here: the broker drops an expired message and
delivers only the remaining interval, so a command queued past its expiry never arrives.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime

from gateway.relays.config import OutputConfig
from gateway.relays.logic import Action, Command, Reason

JSON_KEYS = frozenset({"state", "for", "brightness", "expires", "ts"})


class CommandError(ValueError):
    """The payload is not a valid command; the message says why."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed command with its validity window (epoch seconds, or None)."""

    command: Command
    expires: float | None = None
    issued: float | None = None


def parse(output: str, payload: bytes) -> Envelope:
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise CommandError("payload is not UTF-8") from exc
    if text.startswith("{"):
        return _parse_json(output, text)
    return Envelope(Command(output, _action(text)))


def admit(
    envelope: Envelope,
    cfg: OutputConfig,
    *,
    retained: bool,
    wall_now: float,
    clock_synced: bool = True,
) -> tuple[Reason, str] | None:
    """Why the command must be ignored (reason, detail), or None to carry it out. While the
    gateway's clock is not synchronised (`clock_synced` False) a command with `expires` or `ts`
    cannot be judged and is refused (`clock_unsynced`): a wrong clock could run a stale command
    or drop a fresh one. Commands without them still work."""
    if retained and not cfg.accept_retained:
        return Reason.RETAINED, "retained command ignored (accept_retained = false)"
    if not clock_synced and (envelope.expires is not None or envelope.issued is not None):
        return Reason.CLOCK_UNSYNCED, (
            "the gateway's clock is not synchronised: a command with "
            "expires or ts cannot be checked"
        )
    if envelope.expires is not None and wall_now >= envelope.expires:
        return Reason.EXPIRED, f"command expired {wall_now - envelope.expires:.0f} s ago"
    if envelope.issued is not None and cfg.max_command_age is not None:
        age = wall_now - envelope.issued
        if age > cfg.max_command_age:
            return (
                Reason.EXPIRED,
                f"command is {age:.0f} s old (max_command_age {cfg.max_command_age:g} s)",
            )
    return None


def _action(text: object) -> Action:
    if not isinstance(text, str) or text.upper() not in Action.__members__:
        raise CommandError(f"state must be ON, OFF or TOGGLE, got {text!r}")
    return Action[text.upper()]


def _parse_json(output: str, text: str) -> Envelope:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"invalid JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(data, dict):
        raise CommandError("a JSON command must be an object")
    if unknown := sorted(set(data) - JSON_KEYS):
        raise CommandError(
            f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(JSON_KEYS))}"
        )
    duration = _number(data, "for")
    brightness = _number(data, "brightness")
    default = "ON" if duration is not None or brightness is not None else None
    if "state" not in data and default is None:
        raise CommandError("a JSON command needs 'state'")
    action = _action(data.get("state", default))
    if action is Action.OFF and duration is not None:
        raise CommandError("'for' goes with ON or TOGGLE (an off-for is not supported)")
    level = None
    if brightness is not None:
        action, level = _brightness(action, brightness, duration)
    command = Command(output, action, level=level, duration=duration)
    return Envelope(command, _time(data, "expires"), _time(data, "ts"))


def _brightness(
    action: Action, brightness: float, duration: float | None
) -> tuple[Action, float | None]:
    if not 0 <= brightness <= 100:
        raise CommandError(f"brightness must be within 0..100, got {brightness:g}")
    if action is not Action.ON:
        raise CommandError("brightness goes with state ON only")
    if brightness == 0:
        if duration is not None:
            raise CommandError("brightness 0 (off) cannot have 'for'")
        return Action.OFF, None
    return Action.ON, brightness / 100


def _number(data: dict[str, object], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandError(f"{key!r} must be a number, got {value!r}")
    return float(value)


def _time(data: dict[str, object], key: str) -> float | None:
    value = data.get(key)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return _number(data, key)
    if not isinstance(value, str):
        raise CommandError(f"{key!r} must be epoch seconds or an ISO-8601 time, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{key!r} is not an ISO-8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        raise CommandError(f"{key!r} needs a time zone (e.g. 'Z' or '+01:00'): {value!r}")
    return moment.timestamp()
