"""RelayService over the in-memory bus, with gpiozero's MockFactory, fake expanders and a fake clock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from gateway.mqtt.properties import Properties
from gateway.relays.config import OutputConfig
from gateway.relays.controller import RelayService
from tests.fakes.chips.pcf8574 import FakePCF8574
from tests.fakes.i2c import FakeSMBus
from tests.fakes.local_bus import MemoryBus
from tests.unit.relays.helpers import WALL_OFFSET, FakeClock, Watcher

BASE = "site"
Factory = Callable[..., Any]


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pins() -> MockFactory:
    return MockFactory(pin_class=MockPWMPin)


@pytest.fixture
async def make(
    bus: MemoryBus, clock: FakeClock, pins: MockFactory, tmp_path: Path
) -> AsyncIterator[Factory]:
    services: list[RelayService] = []

    async def factory(*outputs: OutputConfig, i2c_bus: Any = None, **kw: Any) -> RelayService:
        service = RelayService(
            outputs,
            bus.client("relays"),
            BASE,
            tmp_path,
            pin_factory=pins,
            open_i2c=(lambda number: i2c_bus) if i2c_bus else None,
            clock=clock,
            **kw,
        )
        await service.start()
        services.append(service)
        return service

    yield factory
    for service in services:
        await service.stop()


async def send(bus: MemoryBus, name: str, payload: str | bytes, **kw: Any) -> None:
    await bus.client("lan").publish(f"{BASE}/relay/{name}/set", payload, qos=1, **kw)


def state(bus: MemoryBus, name: str) -> str:
    return bus.retained[f"{BASE}/relay/{name}"].payload.decode()


PUMP = OutputConfig(name="pump", pin=17)


async def test_start_publishes_readback_and_availability(
    make: Factory, bus: MemoryBus, pins: MockFactory
) -> None:
    service = await make(
        PUMP, OutputConfig(name="lamp", pin=27, ha_component="light", active_low=True)
    )
    assert state(bus, "pump") == "OFF" and state(bus, "lamp") == "OFF"
    assert pins.pin(27).state == 1  # active-low relay: off means the pin is high
    assert bus.retained[f"{BASE}/relay/pump/availability"].payload == b"online"
    assert not [
        t for t in bus.retained if t.startswith("homeassistant/")
    ]  # gateway.discovery's job
    assert service.alive()


@pytest.mark.parametrize(
    ("payload", "level"),
    [
        ("ON", True),
        ("on", True),
        (" OFF\n", False),
        ('{"state": "ON"}', True),
        ('{"state": "OFF"}', False),
    ],
)
async def test_command_forms_switch_the_pin_and_publish_readback(
    make: Factory, bus: MemoryBus, pins: MockFactory, payload: str, level: bool
) -> None:
    await make(PUMP)
    await send(bus, "pump", "ON" if not level else "OFF")
    await send(bus, "pump", payload)
    assert pins.pin(17).state == level
    assert state(bus, "pump") == ("ON" if level else "OFF")


async def test_toggle_flips_the_read_back_state(
    make: Factory, bus: MemoryBus, pins: MockFactory
) -> None:
    await make(PUMP)
    await send(bus, "pump", "TOGGLE")
    assert state(bus, "pump") == "ON" and pins.pin(17).state == 1
    await send(bus, "pump", '{"state": "TOGGLE"}')
    assert state(bus, "pump") == "OFF" and pins.pin(17).state == 0


async def test_timed_on_turns_off_by_itself(
    make: Factory, bus: MemoryBus, clock: FakeClock, pins: MockFactory
) -> None:
    service = await make(PUMP)
    events = await Watcher.on(bus, f"{BASE}/relay/pump/event")
    await send(bus, "pump", '{"state": "ON", "for": 30}')
    assert (await events.next_json())["state"] == "ON"
    clock.advance(29)
    await service.settled()
    assert state(bus, "pump") == "ON" and events.drain() == []
    clock.advance(1)
    assert await events.next_json() == {"event": "switched", "state": "OFF", "reason": "timer"}
    assert state(bus, "pump") == "OFF" and pins.pin(17).state == 0


async def test_max_on_time_turns_off_and_reports_why(
    make: Factory, bus: MemoryBus, clock: FakeClock
) -> None:
    await make(OutputConfig(name="heater", pin=5, max_on_seconds=600))
    events = await Watcher.on(bus, f"{BASE}/relay/heater/event")
    await send(bus, "heater", "ON")
    await events.next()
    clock.advance(600)
    assert (await events.next_json())["reason"] == "max_on_time"
    assert state(bus, "heater") == "OFF"


async def test_retained_command_is_ignored(
    make: Factory, bus: MemoryBus, pins: MockFactory
) -> None:
    await send(bus, "pump", "ON", retain=True)  # replayed on subscribe, as after a reconnect
    await make(PUMP)
    events = await Watcher.on(bus, f"{BASE}/relay/pump/event")
    assert pins.pin(17).state == 0 and state(bus, "pump") == "OFF"
    await send(bus, "pump", "ON", retain=True)  # and live, with the retain flag
    assert (await events.next_json())["reason"] == "retained"
    assert pins.pin(17).state == 0


async def test_retained_command_accepted_when_configured(
    make: Factory, bus: MemoryBus, pins: MockFactory
) -> None:
    await send(bus, "pump", "ON", retain=True)
    await make(OutputConfig(name="pump", pin=17, accept_retained=True))
    assert pins.pin(17).state == 1 and state(bus, "pump") == "ON"


@pytest.mark.parametrize(
    "payload",
    [
        json.dumps({"state": "ON", "expires": 1000 + WALL_OFFSET - 1}),
        json.dumps({"state": "ON", "expires": "2023-11-14T22:13:19Z"}),  # epoch 1_699_999_999
        json.dumps({"state": "ON", "ts": 1000 + WALL_OFFSET - 61}),
    ],
)
async def test_expired_commands_are_ignored(
    make: Factory, bus: MemoryBus, pins: MockFactory, payload: str
) -> None:
    await make(OutputConfig(name="pump", pin=17, max_command_age=60))
    events = await Watcher.on(bus, f"{BASE}/relay/pump/event")
    await send(bus, "pump", payload)
    assert (await events.next_json())["reason"] == "expired"
    assert pins.pin(17).state == 0


async def test_fresh_command_with_ts_is_carried_out(
    make: Factory, bus: MemoryBus, pins: MockFactory
) -> None:
    await make(OutputConfig(name="pump", pin=17, max_command_age=60))
    await send(
        bus,
        "pump",
        json.dumps(
            {"state": "ON", "ts": 1000 + WALL_OFFSET - 59, "expires": 1000 + WALL_OFFSET + 1}
        ),
    )
    assert pins.pin(17).state == 1


async def test_interlock_refused_and_answered_on_the_response_topic(
    make: Factory, bus: MemoryBus, pins: MockFactory
) -> None:
    await make(
        OutputConfig(name="up", pin=20, interlock=("down",)), OutputConfig(name="down", pin=21)
    )
    replies = await Watcher.on(bus, "caller/replies")
    props = Properties(response_topic="caller/replies", correlation_data=b"\x01\x02")
    await send(bus, "up", "ON", properties=props)
    reply = await replies.next()
    assert reply.properties.correlation_data == b"\x01\x02"
    assert json.loads(reply.payload) == {
        "output": "up",
        "result": "done",
        "reason": "command",
        "state": "ON",
    }
    await send(
        bus,
        "down",
        "ON",
        properties=Properties(response_topic="caller/replies", correlation_data=b"x"),
    )
    body = await replies.next_json()
    assert body["result"] == "refused" and body["reason"] == "interlock" and body["state"] == "OFF"
    assert pins.pin(21).state == 0


async def test_min_off_time_refused_then_allowed(
    make: Factory, bus: MemoryBus, clock: FakeClock, pins: MockFactory
) -> None:
    await make(OutputConfig(name="compressor", pin=6, min_off_seconds=180))
    events = await Watcher.on(bus, f"{BASE}/relay/compressor/event")
    await send(bus, "compressor", "ON")
    assert (await events.next_json())["reason"] == "min_off_time"  # start-up counts as turning off
    clock.advance(180)
    await send(bus, "compressor", "ON")
    assert pins.pin(6).state == 1


async def test_invalid_payload_refused_with_reason(make: Factory, bus: MemoryBus) -> None:
    await make(PUMP)
    replies = await Watcher.on(bus, "r")
    for payload in ("MAYBE", '{"state": "ON", "speed": 3}', b"\xff", '{"for": "soon"}'):
        await send(bus, "pump", payload, properties=Properties(response_topic="r"))
        body = await replies.next_json()
        assert body["result"] == "refused" and body["reason"] == "invalid", payload


async def test_unknown_output_answered(make: Factory, bus: MemoryBus) -> None:
    await make(PUMP)
    replies = await Watcher.on(bus, "r")
    await send(bus, "nope", "ON", properties=Properties(response_topic="r"))
    assert (await replies.next_json())["reason"] == "unknown_output"


async def test_pwm_brightness(make: Factory, bus: MemoryBus, pins: MockFactory) -> None:
    await make(OutputConfig(name="dimmer", kind="pwm", pin=18, ha_component="light"))
    await send(bus, "dimmer", '{"state": "ON", "brightness": 40}')
    assert pins.pin(18).state == pytest.approx(0.4)
    assert json.loads(state(bus, "dimmer")) == {"state": "ON", "brightness": 40.0}
    await send(bus, "dimmer", '{"brightness": 0}')
    assert json.loads(state(bus, "dimmer")) == {"state": "OFF", "brightness": 0.0}
    await send(bus, "dimmer", "ON")
    assert pins.pin(18).state == pytest.approx(0.4)


async def test_readback_not_matching_is_reported_as_failed(make: Factory, bus: MemoryBus) -> None:
    i2c = FakeSMBus()
    chip = i2c.attach(0x20, FakePCF8574())
    await make(OutputConfig(name="gate", kind="pcf8574", address=0x20, pin=2), i2c_bus=i2c)
    chip.external_low = 1 << 2  # the weak high cannot lift the pin: "ON" never reaches the load
    replies = await Watcher.on(bus, "r")
    await send(bus, "gate", "ON", properties=Properties(response_topic="r"))
    body = await replies.next_json()
    assert body["result"] == "failed" and "read back OFF" in body["detail"]
    assert state(bus, "gate") == "OFF"


async def test_missing_expander_makes_its_output_unavailable(
    make: Factory, bus: MemoryBus, pins: MockFactory
) -> None:
    await make(
        OutputConfig(name="gate", kind="mcp23017", address=0x21, pin=0), PUMP, i2c_bus=FakeSMBus()
    )
    assert bus.retained[f"{BASE}/relay/gate/availability"].payload == b"offline"
    replies = await Watcher.on(bus, "r")
    await send(bus, "gate", "ON", properties=Properties(response_topic="r"))
    assert (await replies.next_json())["reason"] == "unavailable"
    await send(bus, "pump", "ON")  # the other outputs work
    assert pins.pin(17).state == 1


async def test_stop_applies_on_stop_states_in_order(
    bus: MemoryBus, clock: FakeClock, pins: MockFactory, tmp_path: Path
) -> None:
    outputs = (
        OutputConfig(name="up", pin=20, interlock=("down",)),
        OutputConfig(name="down", pin=21, on_stop="on"),
        OutputConfig(name="lamp", pin=22, on_stop="keep"),
    )
    service = RelayService(
        outputs, bus.client("relays"), BASE, tmp_path, pin_factory=pins, clock=clock
    )
    await service.start()
    await send(bus, "up", "ON")
    await send(bus, "lamp", "ON")
    start = len(bus.log)
    await service.stop()
    states = [(m.topic, m.payload) for m in bus.log[start:] if m.topic.endswith(("/up", "/down"))]
    assert states == [(f"{BASE}/relay/up", b"OFF"), (f"{BASE}/relay/down", b"ON")]
    assert pins.pin(21).state == 1 and pins.pin(22).state == 1
    assert bus.retained[f"{BASE}/relay/up/availability"].payload == b"offline"
    assert not service.alive()
    await send(bus, "up", "ON")  # no longer subscribed
    assert state(bus, "up") == "OFF"


async def test_events_and_pwm_states_are_compact_json_as_readings_are(
    make: Factory, bus: MemoryBus, clock: FakeClock
) -> None:
    """Sensor readings are JSON without spaces; relay events and PWM states are too."""
    from gateway.relays.controller import state_payload

    await make(PUMP)
    events = await Watcher.on(bus, f"{BASE}/relay/pump/event")
    await send(bus, "pump", "ON")
    payload = bytes((await events.next()).payload)
    assert json.loads(payload)["state"] == "ON"
    assert payload == json.dumps(json.loads(payload), separators=(",", ":")).encode()
    fan = OutputConfig(name="fan", kind="pwm", pin=18)
    assert state_payload(fan, 0.4) == '{"state":"ON","brightness":40.0}'
