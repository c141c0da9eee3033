"""Relays reloaded without a restart: the plan (pure), the logic carrying state over, and the
controller applying a plan with gpiozero's MockFactory (a pin subclass records every write), a
fake expander (every byte written to it recorded) and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from gateway.relays.config import OutputConfig
from gateway.relays.controller import RelayService
from gateway.relays.logic import Action, Command, Reason, RelayLogic, Switch
from gateway.relays.reload import plan
from gateway.reload import Outcome
from tests.fakes.chips.pcf8574 import FakePCF8574
from tests.fakes.i2c import FakeSMBus
from tests.fakes.local_bus import MemoryBus
from tests.fakes.recording_pin import RecordingPin
from tests.unit.relays.helpers import FakeClock

BASE = "site"
PUMP = OutputConfig(name="pump", pin=17)
GATE = OutputConfig(name="gate", kind="pcf8574", address=0x20, pin=2)


class RecordingChip(FakePCF8574):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))
        super().write(data)


# -- the plan ----------------------------------------------------------------------------------


def test_plan_names_each_change() -> None:
    old = (PUMP, GATE, OutputConfig(name="fan", pin=18), OutputConfig(name="old", pin=19))
    new = (
        PUMP.model_copy(update={"max_on_seconds": 60.0, "title": "Pump"}),  # rules only
        GATE.model_copy(update={"pin": 3}),  # another pin of the expander
        OutputConfig(name="fan", pin=18),
        OutputConfig(name="heater", pin=20),
    )
    assert plan(old, new) == {
        "pump": Outcome.RECONFIGURED,
        "gate": Outcome.RESTARTED,
        "fan": Outcome.UNCHANGED,
        "heater": Outcome.ADDED,
        "old": Outcome.REMOVED,
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"active_low": True}, Outcome.RESTARTED),  # the same pin, driven the other way
        ({"kind": "pwm"}, Outcome.RESTARTED),
        ({"frequency": 50.0}, Outcome.RESTARTED),
        ({"power_on": "on"}, Outcome.RECONFIGURED),  # for the next start, not now
        ({"on_stop": "keep"}, Outcome.RECONFIGURED),
        ({"accept_retained": True}, Outcome.RECONFIGURED),
        ({"ha_component": "light"}, Outcome.RECONFIGURED),
    ],
)
def test_plan_restarts_only_when_the_output_changes(change: dict, expected: Outcome) -> None:
    assert plan((PUMP,), (PUMP.model_copy(update=change),)) == {"pump": expected}


def test_a_renamed_relay_is_removed_and_added() -> None:
    renamed = PUMP.model_copy(update={"name": "well"})
    assert plan((PUMP,), (renamed,)) == {"well": Outcome.ADDED, "pump": Outcome.REMOVED}


# -- the logic ---------------------------------------------------------------------------------


def test_reconfigured_logic_keeps_the_state_and_counts_a_new_max_on_time_from_the_turn_on() -> None:
    logic = RelayLogic((PUMP,), 0.0)
    assert logic.command(Command("pump", Action.ON), 10.0) == Switch("pump", 1.0, Reason.COMMAND)
    limited = PUMP.model_copy(update={"max_on_seconds": 100.0})
    new, switches = logic.reconfigured((limited,), ["pump"], 50.0)
    assert switches == [] and new.level("pump") == 1.0
    assert new.next_deadline() == 110.0  # from the turn-on at 10, not the reload at 50
    assert new.tick(110.0) == [Switch("pump", 0.0, Reason.MAX_ON_TIME)]


def test_new_interlock_between_two_outputs_on_turns_the_later_one_off() -> None:
    up, down = OutputConfig(name="up", pin=20), OutputConfig(name="down", pin=21)
    logic = RelayLogic((up, down), 0.0)
    logic.command(Command("up", Action.ON), 1.0)
    logic.command(Command("down", Action.ON), 1.0)
    locked = down.model_copy(update={"interlock": ("up",)})
    new, switches = logic.reconfigured((up, locked), ["up", "down"], 2.0)
    assert switches == [Switch("down", 0.0, Reason.INTERLOCK)]
    assert new.level("up") == 1.0 and new.level("down") == 0.0


def test_stop_of_some_outputs_leaves_the_others_and_their_timers() -> None:
    timed = OutputConfig(name="timed", pin=22)
    logic = RelayLogic((PUMP, timed), 0.0)
    logic.command(Command("pump", Action.ON), 1.0)
    logic.command(Command("timed", Action.ON, duration=30.0), 1.0)
    assert logic.stop(2.0, ["pump"]) == [Switch("pump", 0.0, Reason.STOP)]
    assert logic.level("timed") == 1.0 and logic.next_deadline() == 31.0


# -- the controller ----------------------------------------------------------------------------


@pytest.fixture
def pins() -> MockFactory:
    return MockFactory(pin_class=RecordingPin)


@pytest.fixture
async def service(
    pins: MockFactory, tmp_path: Path
) -> AsyncIterator[tuple[RelayService, MemoryBus, FakeSMBus, RecordingChip, FakeClock]]:
    bus, i2c, chip, clock = MemoryBus(), FakeSMBus(), RecordingChip(), FakeClock()
    i2c.attach(0x20, chip)
    old = (PUMP, GATE, OutputConfig(name="fan", pin=18, on_stop="off"))
    relays = RelayService(
        old, bus.client("relays"), BASE, tmp_path, pins, lambda n: i2c, clock=clock
    )
    await relays.start()
    for name in ("pump", "gate", "fan"):
        await bus.client("lan").publish(f"{BASE}/relay/{name}/set", b"ON", qos=1)
    yield relays, bus, i2c, chip, clock
    await relays.stop()


async def reconfigure(relays: RelayService, old: tuple, new: tuple) -> dict[str, str]:
    return await relays.reconfigure(new, plan(old, new))


async def test_changed_rules_leave_the_pin_and_the_expander_untouched(
    service: tuple, pins: MockFactory
) -> None:
    relays, bus, _, chip, clock = service
    pump, written = pins.pin(17), len(chip.written)
    writes = list(pump.writes)
    assert pump.state == 1 and chip.level(2)
    old = (PUMP, GATE, OutputConfig(name="fan", pin=18, on_stop="off"))
    new = (
        PUMP.model_copy(update={"max_on_seconds": 5.0, "power_on": "off", "title": "Pump"}),
        GATE.model_copy(update={"check_interval": 0.0, "on_stop": "keep"}),
        OutputConfig(name="fan", pin=18, on_stop="off"),
    )
    assert await reconfigure(relays, old, new) == {}
    assert pump.writes == writes and chip.written[written:] == []  # no write at all: no glitch
    assert bus.retained[f"{BASE}/relay/pump"].payload == b"ON"
    clock.advance(5.0)  # the new max_on_seconds applies (counted from the turn-on)
    await relays.settled()
    assert pump.state == 0 and bus.retained[f"{BASE}/relay/pump"].payload == b"OFF"


async def test_added_removed_and_restarted_relays(service: tuple, pins: MockFactory) -> None:
    relays, bus, _, chip, _ = service
    fan_writes = list(pins.pin(18).writes)
    old = (PUMP, GATE, OutputConfig(name="fan", pin=18, on_stop="off"))
    new = (
        PUMP.model_copy(update={"pin": 27}),  # moved: restarted
        OutputConfig(name="fan", pin=18, on_stop="off"),
        OutputConfig(name="heater", pin=24, power_on="on"),  # added: its power-on rule
    )
    assert await reconfigure(relays, old, new) == {}
    assert pins.pin(17).state == 0 and pins.pin(17).function == "input"  # stopped, released
    assert pins.pin(27).state == 0  # the new output opened at its power-on level (off)
    assert pins.pin(24).state == 1
    assert not chip.level(2)  # the removed gate got its stop state (off)
    assert f"{BASE}/relay/gate" not in bus.retained  # its retained topics cleared
    assert f"{BASE}/relay/gate/availability" not in bus.retained
    assert bus.retained[f"{BASE}/relay/heater"].payload == b"ON"
    assert pins.pin(18).writes == fan_writes  # unchanged: untouched
    await bus.client("lan").publish(f"{BASE}/relay/pump/set", b"ON", qos=1)
    assert pins.pin(27).state == 1  # commands reach the new output
    await bus.client("lan").publish(f"{BASE}/relay/gate/set", b"ON", qos=1)
    assert not chip.level(2)  # and none reach the removed one


async def test_a_relay_added_at_an_absent_expander_is_unavailable(service: tuple) -> None:
    relays, bus, *_ = service
    old = (PUMP, GATE, OutputConfig(name="fan", pin=18, on_stop="off"))
    late = OutputConfig(name="late", kind="mcp23017", address=0x21, pin=0)
    assert await reconfigure(relays, old, (*old, late)) == {}
    assert bus.retained[f"{BASE}/relay/late/availability"].payload == b"offline"
    assert relays.summary() == "3/4 relay(s) available"


async def test_a_relay_that_cannot_be_built_fails_alone(service: tuple, pins: MockFactory) -> None:
    relays, bus, *_ = service
    old = (PUMP, GATE, OutputConfig(name="fan", pin=18, on_stop="off"))
    odd = OutputConfig(name="odd", kind="pcf8574", address=0x50, pin=0)  # no PCF8574 there
    failed = await reconfigure(relays, old, (*old, odd))
    assert list(failed) == ["odd"] and "0x50" in failed["odd"]
    assert bus.retained[f"{BASE}/relay/odd/availability"].payload == b"offline"
    await bus.client("lan").publish(f"{BASE}/relay/pump/set", b"OFF", qos=1)
    assert pins.pin(17).state == 0  # the others still work


async def test_a_reload_storm_leaves_the_kept_output_untouched_and_consistent(
    service: tuple, pins: MockFactory
) -> None:
    relays, bus, *_ = service
    pump, writes = pins.pin(17), list(pins.pin(17).writes)
    base = (PUMP, GATE, OutputConfig(name="fan", pin=18, on_stop="off"))
    variants = [
        (PUMP.model_copy(update={"title": "Pump"}), GATE, OutputConfig(name="fan", pin=19)),
        base,
        (PUMP, OutputConfig(name="spare", pin=22)),
    ]
    current: tuple[OutputConfig, ...] = base
    for i in range(20):  # the last one goes back to `base`
        new = variants[i % 3]
        await reconfigure(relays, current, new)
        current = new
    assert pump.writes == writes and pump.state == 1
    assert relays.summary() == "3/3 relay(s) available"
    assert {s["name"]: s["state"] for s in relays.snapshot()} == {
        "pump": "ON",
        "gate": "OFF",  # removed and added back: its power-on rule (off)
        "fan": "OFF",
    }
    assert bus.retained[f"{BASE}/relay/pump"].payload == b"ON"
    assert f"{BASE}/relay/spare" not in bus.retained


async def test_a_removed_output_left_on_is_released_when_its_pin_is_used_again(
    service: tuple, pins: MockFactory
) -> None:
    relays, bus, *_ = service
    kept = OutputConfig(name="fan", pin=18, on_stop="keep")
    base = (PUMP, GATE, OutputConfig(name="fan", pin=18, on_stop="off"))
    await reconfigure(relays, base, (PUMP, GATE, kept))
    await reconfigure(relays, (PUMP, GATE, kept), (PUMP, GATE))
    assert pins.pin(18).state == 1  # on_stop = "keep": left as it was
    heater = OutputConfig(name="heater", pin=18, kind="pwm")
    assert await reconfigure(relays, (PUMP, GATE), (PUMP, GATE, heater)) == {}
    assert pins.pin(18).state == 0  # the new output opened at its power-on level
    await bus.client("lan").publish(f"{BASE}/relay/heater/set", b"ON", qos=1)
    assert pins.pin(18).state == 1


async def test_a_relay_moved_to_the_same_pin_driven_the_other_way_reopens_it(
    service: tuple, pins: MockFactory
) -> None:
    relays, bus, *_ = service
    base = (PUMP, GATE, OutputConfig(name="fan", pin=18, on_stop="off"))
    keep = PUMP.model_copy(update={"on_stop": "keep"})
    await reconfigure(relays, base, (keep, *base[1:]))
    inverted = keep.model_copy(update={"active_low": True})
    assert await reconfigure(relays, (keep, *base[1:]), (inverted, *base[1:])) == {}
    assert pins.pin(17).state == 1  # active-low: the pin is high while the relay is off
    assert bus.retained[f"{BASE}/relay/pump"].payload == b"OFF"  # its power-on rule: off
    await bus.client("lan").publish(f"{BASE}/relay/pump/set", b"ON", qos=1)
    assert pins.pin(17).state == 0
