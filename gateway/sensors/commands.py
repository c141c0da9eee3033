"""Commands to a sensor, run by its own task between two readings: forced recalibration and
automatic self-calibration (ABC) on/off of the CO2 sensors that have them.

How this works: the sensor service subscribes, for each sensor whose driver has the method, to

    <state>/calibrate/set           the reference CO2 in ppm (400..2000), driver.forced_recalibration
    <state>/self_calibration/set    ON or OFF, driver.set_self_calibration

A valid command goes into the sensor's bounded queue (COMMAND_QUEUE_LIMIT; overflow: refused as
"busy" and counted). The sensor's task takes it while it waits for its next reading and runs it in
the sensor's worker thread, under the bus lock, so a command never runs during a read. The result
is published, QoS 1, not retained, on `<state>/<command>/result`:

    {"command": "calibrate", "value": 450, "result": "accepted", "correction": -12}
    {"command": "calibrate", "value": 450, "result": "refused", "reason": "..."}

(every refusal is counted as `commands_refused`, and logged at most once per sensor and command
per 10 s: a client can repeat a bad command at will), and the self-calibration setting in force is
kept, retained, on `<state>/self_calibration`
("ON"/"OFF"; the configured value at start). A retained command is refused: it would run again at
every start-up. The setting lasts until the gateway restarts (the config's `self_calibration` is
sent again by every open of the driver); this module decides nothing about the chips: each
driver does what its datasheet requires (the SCD4x stops its periodic measurement and waits
500 ms first, and reports the 0xFFFF failure of its forced recalibration as an error).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

COMMAND_QUEUE_LIMIT = 4
CALIBRATE, SELF_CALIBRATION = "calibrate", "self_calibration"
#: command -> the driver method that carries it out
METHODS = {CALIBRATE: "forced_recalibration", SELF_CALIBRATION: "set_self_calibration"}
FRC_RANGE = (400, 2000)  # ppm: the SCD30's and SCD4x's documented target range
TRUE_WORDS, FALSE_WORDS = {"on", "true", "1"}, {"off", "false", "0"}


class CommandError(ValueError):
    """A command payload that cannot be run: the reason goes back on the result topic."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # CALIBRATE or SELF_CALIBRATION
    value: int | bool


def supported(driver: object) -> tuple[str, ...]:
    """The commands `driver` can carry out."""
    return tuple(
        name for name, method in METHODS.items() if callable(getattr(driver, method, None))
    )


def command_topic(state: str, name: str) -> str:
    return f"{state}/{name}/set"


def result_topic(state: str, name: str) -> str:
    return f"{state}/{name}/result"


def setting_topic(state: str) -> str:
    return f"{state}/{SELF_CALIBRATION}"


def on_off(enabled: bool) -> bytes:
    return b"ON" if enabled else b"OFF"


def parse(name: str, payload: bytes, *, retained: bool = False) -> Command:
    if retained:
        raise CommandError("a retained command is refused (it would run again at every start)")
    try:
        text = payload.decode().strip()
    except UnicodeDecodeError:
        raise CommandError("the payload is not UTF-8 text") from None
    if name == CALIBRATE:
        try:
            ppm = int(text)
        except ValueError:
            raise CommandError(f"{text[:40]!r} is not a whole number of ppm") from None
        low, high = FRC_RANGE
        if not low <= ppm <= high:
            raise CommandError(f"{ppm} ppm is outside {low}..{high} ppm")
        return Command(CALIBRATE, ppm)
    if name == SELF_CALIBRATION:
        word = text.lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise CommandError(f"{text[:40]!r} is not ON or OFF")
        return Command(SELF_CALIBRATION, word in TRUE_WORDS)
    raise CommandError(f"unknown command {name!r}")


def execute(driver: Any, command: Command) -> dict[str, Any]:
    """Run `command` on `driver` (blocking: called in the sensor's worker thread); returns what
    the result adds to "accepted" (the SCD4x's correction in ppm)."""
    outcome = getattr(driver, METHODS[command.name])(command.value)
    return {"correction": outcome} if isinstance(outcome, int) else {}


def result(
    name: str, value: object, *, reason: str | None = None, extra: dict[str, Any] | None = None
) -> bytes:
    body: dict[str, Any] = {"command": name, "value": value}
    body["result"] = "refused" if reason is not None else "accepted"
    if reason is not None:
        body["reason"] = reason
    body.update(extra or {})
    return json.dumps(body, separators=(",", ":")).encode()
