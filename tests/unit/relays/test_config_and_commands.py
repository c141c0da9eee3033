"""Relay config validation, command payload parsing and admission, discovery payloads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from gateway.relays.commands import CommandError, admit, parse
from gateway.relays.config import OutputConfig, RelayList
from gateway.relays.logic import Action, Command, Reason

RELAYS = TypeAdapter(RelayList)

EXAMPLE = """
[[relays]]
name = "pump"
pin = 17
active_low = true
power_on = "restore"
max_on_seconds = 1800
[[relays]]
name = "motor_up"
kind = "mcp23017"
address = 0x20
pin = 0
interlock = ["motor_down"]
[[relays]]
name = "motor_down"
kind = "mcp23017"
address = 0x20
pin = 1
"""


def test_example_loads() -> None:
    outputs = RELAYS.validate_python(tomllib.loads(EXAMPLE)["relays"])
    assert [o.name for o in outputs] == ["pump", "motor_up", "motor_down"]
    assert outputs[1].bus == 1  # expanders default to /dev/i2c-1


def test_same_chip_address_and_pin_on_two_buses_are_two_outputs() -> None:
    outputs = RELAYS.validate_python(
        [
            {"name": "a", "kind": "pcf8574", "address": 0x20, "pin": 0, "bus": 0},
            {"name": "b", "kind": "mcp23017", "address": 0x20, "pin": 0, "bus": 3},
        ]
    )
    assert [o.bus for o in outputs] == [0, 3]


def test_example_config_documents_every_relay_key() -> None:
    text = (Path(__file__).resolve().parents[3] / "config" / "gateway.toml").read_text()
    relays = re.split(r"^# ── ", text[text.index("[[relays]]") :], flags=re.MULTILINE)[0]
    for key in OutputConfig.model_fields:
        assert re.search(rf"^#? ?{key} = ", relays, re.MULTILINE), f"relay key {key} undocumented"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"name": "pump", "pin": 17, "max_on": 5}], "max_on"),
        ([{"name": "Pump/1", "pin": 17}], "name"),
        ([{"name": "x", "kind": "pcf8574", "pin": 1}], "address"),
        ([{"name": "x", "kind": "pcf8574", "address": 32, "pin": 8}], "0..7"),
        ([{"name": "x", "pin": 1, "address": 32}], "only for I2C"),
        ([{"name": "x", "pin": 1}, {"name": "x", "pin": 2}], "unique"),
        ([{"name": "x", "pin": 1}, {"name": "y", "pin": 1}], "same pin"),
        ([{"name": "x", "pin": 1, "interlock": ["z"]}], "unknown"),
        ([{"name": "x", "pin": 1, "interlock": ["x"]}], "itself"),
        (
            [
                {"name": "x", "pin": 1, "power_on": "on", "interlock": ["y"]},
                {"name": "y", "pin": 2, "power_on": "on"},
            ],
            "power_on",
        ),
        (
            [
                {"name": "x", "pin": 1, "on_stop": "on"},
                {"name": "y", "pin": 2, "on_stop": "on", "interlock": ["x"]},
            ],
            "on_stop",
        ),
        ([{"name": "x", "pin": 1, "max_on_seconds": 0}], "greater than 0"),
        ([{"name": "x", "pin": 1, "bus": 0}], "'bus' is only for I2C expanders"),
        (
            [{"name": "x", "kind": "pcf8574", "address": 32, "pin": 0, "bus": 256}],
            "less than or equal to 255",
        ),
        (
            [
                {"name": "x", "kind": "pcf8574", "address": 32, "pin": 0},
                {"name": "y", "kind": "pcf8574", "address": 32, "pin": 0, "bus": 1},
            ],
            "same pin",
        ),
        (
            [
                {"name": "x", "kind": "pcf8574", "address": 32, "pin": 0},
                {"name": "y", "kind": "mcp23017", "address": 32, "pin": 1},
            ],
            r"'x' \(pcf8574\) and 'y' \(mcp23017\) put two chips at address 0x20 on I2C bus 1",
        ),
    ],
)
def test_bad_config_is_a_clear_error(entries: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RELAYS.validate_python(entries)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"ON", Command("p", Action.ON)),
        (b"toggle", Command("p", Action.TOGGLE)),
        (b'{"state": "ON", "for": 30}', Command("p", Action.ON, duration=30.0)),
        (b'{"for": 5}', Command("p", Action.ON, duration=5.0)),
        (b'{"brightness": 25}', Command("p", Action.ON, level=0.25)),
        (b'{"state": "ON", "brightness": 0}', Command("p", Action.OFF)),
    ],
)
def test_parse(payload: bytes, expected: Command) -> None:
    assert parse("p", payload).command == expected


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"1",
        b"[]",
        b'{"state": 1}',
        b"{}",
        b'{"state": "OFF", "for": 3}',
        b'{"brightness": 101}',
        b'{"state": "ON", "for": true}',
        b'{"state": "ON", "ts": "2024-01-01T00:00:00"}',
        b'{"state": "ON", "ts": []}',
    ],
)
def test_parse_errors(payload: bytes) -> None:
    with pytest.raises(CommandError):
        parse("p", payload)


def test_admission_rules() -> None:
    cfg = OutputConfig(name="p", pin=1, max_command_age=60)
    env = parse("p", b'{"state": "ON", "ts": "2024-01-01T00:00:00+00:00"}')
    issued = 1704067200.0
    assert admit(env, cfg, retained=False, wall_now=issued + 60) is None
    assert admit(env, cfg, retained=False, wall_now=issued + 61)[0] is Reason.EXPIRED  # type: ignore[index]
    assert admit(env, cfg, retained=True, wall_now=issued)[0] is Reason.RETAINED  # type: ignore[index]
    assert (
        admit(
            env,
            cfg.model_copy(update={"max_command_age": None}),
            retained=False,
            wall_now=issued + 1e6,
        )
        is None
    )
