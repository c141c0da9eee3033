"""Expander relays whose I2C bus or chip is absent at start-up: unavailable, commands refused with a
reason, the rest running; retried with backoff, and given their power-on state once they answer.
Fake buses and chips behave like smbus2 and the datasheets; the clock is fake."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from gateway.relays.config import OutputConfig
from gateway.relays.controller import RelayService
from gateway.relays.state_store import StateStore, StoredState
from tests.fakes.chips.mcp23017 import FakeMCP23017
from tests.fakes.chips.pcf8574 import FakePCF8574
from tests.fakes.i2c import FakeSMBus
from tests.fakes.local_bus import MemoryBus
from tests.unit.relays.helpers import FakeClock, Watcher

BASE = "site"


class Buses:
    """/dev/i2c-N as smbus2 sees them: `open_i2c(n)` opens bus n or raises FileNotFoundError."""

    def __init__(self, clock: FakeClock, **present: bool) -> None:
        self.bus = {int(n[1:]): FakeSMBus(present=p) for n, p in present.items()}
        self.clock = clock
        self.tried: list[float] = []
        self.opened: list[int] = []

    def open_i2c(self, number: int) -> FakeSMBus:
        bus = self.bus[number]
        self.tried.append(self.clock.now)
        bus.open(number)
        self.opened.append(number)
        return bus


def available(mqtt: MemoryBus, name: str) -> bytes:
    return mqtt.retained[f"{BASE}/relay/{name}/availability"].payload


def state(mqtt: MemoryBus, name: str) -> bytes:
    return mqtt.retained[f"{BASE}/relay/{name}"].payload


async def command(mqtt: MemoryBus, name: str, payload: str) -> None:
    await mqtt.client("lan").publish(f"{BASE}/relay/{name}/set", payload, qos=1)


@pytest.fixture
def pins() -> MockFactory:
    return MockFactory(pin_class=MockPWMPin)


async def test_expander_on_a_missing_bus_is_refused_then_restored_when_the_bus_appears(
    tmp_path: Path, pins: MockFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.relays")
    StateStore(tmp_path).save({"valve": StoredState(1.0)})  # it was on before the reboot
    mqtt, clock = MemoryBus(), FakeClock(1000)
    buses = Buses(clock, b3=False)
    outputs = (
        OutputConfig(
            name="valve",
            kind="pcf8574",
            bus=3,
            address=0x20,
            pin=0,
            active_low=True,
            power_on="restore",
        ),
        OutputConfig(name="pump", pin=17),
    )
    service = RelayService(
        outputs,
        mqtt.client("relays"),
        BASE,
        tmp_path,
        pin_factory=pins,
        open_i2c=buses.open_i2c,
        clock=clock,
    )
    await service.start()
    assert available(mqtt, "valve") == b"offline" and available(mqtt, "pump") == b"online"
    events = await Watcher.on(mqtt, f"{BASE}/relay/valve/event")
    await command(mqtt, "valve", "ON")
    refusal = await events.next_json()
    assert refusal["event"] == "refused" and refusal["reason"] == "unavailable"
    await command(mqtt, "pump", "ON")  # the rest runs
    assert pins.pin(17).state == 1
    # Each relay's log lines carry its journal field (journalctl RELAY=valve).
    refused = [r for r in caplog.records if r.getMessage().startswith("relay valve: refused")]
    assert refused and all(vars(r)["RELAY"] == "valve" for r in refused)
    assert any(
        getattr(r, "RELAY", None) == "pump" and r.getMessage() == "relay pump: ON (command)"
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]

    for delay in (5, 10, 20, 40, 60, 60):  # retried after 5 s, doubling, capped at 60 s
        clock.advance(delay)
        await service.settled()
    assert buses.tried == [1000, 1005, 1015, 1035, 1075, 1135, 1195]
    assert available(mqtt, "valve") == b"offline" and buses.opened == []

    chip = buses.bus[3].attach(0x20, FakePCF8574())
    buses.bus[3].present = True  # dtoverlay=i2c3 and a reboot of the hat, say
    clock.advance(60)
    await service.settled()
    assert buses.opened == [3] and available(mqtt, "valve") == b"online"
    switched = [json.loads(m.payload) for m in events.drain()]
    assert switched == [{"event": "switched", "state": "ON", "reason": "power_on"}]
    assert state(mqtt, "valve") == b"ON" and not chip.level(0)  # active-low: ON sinks the pin
    await command(mqtt, "valve", "OFF")
    assert state(mqtt, "valve") == b"OFF" and chip.level(0)
    assert StateStore(tmp_path).load()["valve"] == StoredState(0.0)
    await service.stop()


async def test_a_chip_that_answers_late_still_respects_its_interlock(
    tmp_path: Path, pins: MockFactory
) -> None:
    mqtt, clock = MemoryBus(), FakeClock()
    buses = Buses(clock, b1=True)
    outputs = (
        OutputConfig(
            name="up", kind="mcp23017", address=0x21, pin=8, power_on="on", interlock=("down",)
        ),
        OutputConfig(name="down", pin=22),
    )
    service = RelayService(
        outputs,
        mqtt.client("relays"),
        BASE,
        tmp_path,
        pin_factory=pins,
        open_i2c=buses.open_i2c,
        clock=clock,
        retry_first=1,
        retry_max=4,
    )
    await service.start()  # the bus opens, nothing answers at 0x21
    assert available(mqtt, "up") == b"offline"
    await command(mqtt, "down", "ON")
    events = await Watcher.on(mqtt, f"{BASE}/relay/up/event")
    chip = buses.bus[1].attach(0x21, FakeMCP23017())
    clock.advance(1)
    await service.settled()
    assert available(mqtt, "up") == b"online" and state(mqtt, "up") == b"OFF"
    refusal = await events.next_json()
    assert refusal["event"] == "refused" and refusal["reason"] == "interlock"
    assert chip.regs[0x01] & 0x01 == 0 and chip.regs[0x15] & 0x01 == 0  # GPB0 an output, low
    await command(mqtt, "down", "OFF")
    await command(mqtt, "up", "ON")
    assert state(mqtt, "up") == b"ON"
    await service.stop()


async def test_expanders_on_two_buses_use_their_own_bus(tmp_path: Path, pins: MockFactory) -> None:
    mqtt, clock = MemoryBus(), FakeClock()
    buses = Buses(clock, b0=True, b1=True)
    chips = {n: buses.bus[n].attach(0x20, FakePCF8574()) for n in (0, 1)}
    outputs = (
        OutputConfig(name="a", kind="pcf8574", bus=0, address=0x20, pin=0),
        OutputConfig(name="b", kind="pcf8574", address=0x20, pin=0),
    )  # bus 1, the default
    service = RelayService(
        outputs,
        mqtt.client("relays"),
        BASE,
        tmp_path,
        pin_factory=pins,
        open_i2c=buses.open_i2c,
        clock=clock,
    )
    await service.start()
    assert sorted(buses.opened) == [0, 1]
    await command(mqtt, "a", "ON")
    assert chips[0].level(0) and not chips[1].level(0)
    await service.stop()
