"""The relay state file, and `power_on = "restore"` across a restart of the controller."""

from __future__ import annotations

import json
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from gateway.relays.config import OutputConfig
from gateway.relays.controller import RelayService
from gateway.relays.state_store import FILE_NAME, StateStore, StoredState
from tests.fakes.local_bus import MemoryBus
from tests.unit.relays.helpers import FakeClock, Watcher


def test_save_then_load_round_trips_and_leaves_no_temp_file(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    states = {
        "pump": StoredState(1.0),
        "dimmer": StoredState(0.4),
        "valve": StoredState(1.0, timed=True),
    }
    store.save(states)
    assert StateStore(tmp_path / "state").load() == states
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [FILE_NAME]


def test_missing_file_loads_empty(tmp_path: Path) -> None:
    assert StateStore(tmp_path).load() == {}


def test_timed_state_restores_as_off() -> None:
    assert StoredState(1.0, timed=True).restore_level == 0.0
    assert StoredState(0.7).restore_level == 0.7


def test_corrupt_file_is_quarantined(tmp_path: Path) -> None:
    for bad in (
        "{not json",
        json.dumps({"version": 9, "outputs": {}}),
        json.dumps({"version": 1, "outputs": {"pump": {"level": 7}}}),
        "[]",
    ):
        (tmp_path / FILE_NAME).write_text(bad)
        assert StateStore(tmp_path).load() == {}
        assert not (tmp_path / FILE_NAME).exists()
        assert (tmp_path / (FILE_NAME + ".corrupt")).read_text() == bad


async def _service(bus: MemoryBus, tmp_path: Path, pins: MockFactory, **kw: object) -> RelayService:
    outputs = (
        OutputConfig(name="pump", pin=17, power_on="restore", **kw),
        OutputConfig(name="fan", pin=18, power_on="restore"),
        OutputConfig(name="siren", pin=19, power_on="off"),
    )
    service = RelayService(
        outputs, bus.client("relays"), "site", tmp_path, pin_factory=pins, clock=FakeClock()
    )
    await service.start()
    return service


async def test_restore_after_a_crash(tmp_path: Path) -> None:
    bus = MemoryBus()
    first = await _service(bus, tmp_path, MockFactory())
    for name in ("pump", "siren"):
        await bus.client("lan").publish(f"site/relay/{name}/set", "ON")
    # a crash: no stop(); a new process with fresh pins on the same state directory
    pins = MockFactory()
    second = await _service(bus, tmp_path, pins)
    assert (
        pins.pin(17).state is True and pins.pin(18).state is False and pins.pin(19).state is False
    )
    assert bus.retained["site/relay/pump"].payload == b"ON"
    assert bus.retained["site/relay/siren"].payload == b"OFF"
    await second.stop()
    await first.stop()


async def test_stop_state_is_not_what_gets_restored(tmp_path: Path) -> None:
    bus, pins = MemoryBus(), MockFactory()
    first = await _service(bus, tmp_path, pins)
    await bus.client("lan").publish("site/relay/pump/set", "ON")
    await first.stop()  # on_stop = off turns it off, but the state to restore stays ON
    assert pins.pin(17).state is False
    second = await _service(bus, tmp_path, pins)
    assert pins.pin(17).state is True
    await second.stop()


async def test_timed_on_does_not_survive_a_restart(tmp_path: Path) -> None:
    bus, pins = MemoryBus(), MockFactory()
    first = await _service(bus, tmp_path, pins)
    events = await Watcher.on(bus, "site/relay/pump/event")
    await bus.client("lan").publish("site/relay/pump/set", '{"state": "ON", "for": 600}')
    assert (await events.next_json())["state"] == "ON"
    await first.stop()
    second = await _service(bus, tmp_path, pins)
    assert pins.pin(17).state is False
    await second.stop()
