"""Relays and sensors through the real broker: paho clients on real sockets command the relays and
read the sensors, exactly as a LAN client or Home Assistant would."""

from __future__ import annotations

import json

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin
from paho.mqtt.packettypes import PacketTypes

from gateway.relays.config import OutputConfig
from gateway.relays.controller import RelayService
from gateway.sensors.config import SimulatedConfig
from gateway.sensors.scheduler import SensorService
from tests.support.clients import V5, V311, TestClient, v5_props


@pytest.fixture
def relays(broker, tmp_path):
    factory = MockFactory(pin_class=MockPWMPin)
    configs = (
        OutputConfig(name="pump", kind="gpio", pin=17, active_low=True),
        OutputConfig(name="up", kind="gpio", pin=22, interlock=("down",)),
        OutputConfig(name="down", kind="gpio", pin=23),
        OutputConfig(name="fan", kind="pwm", pin=18),
    )

    async def _start():
        service = RelayService(
            configs, broker.broker.local_client("relays"), "edge", tmp_path, pin_factory=factory
        )
        await service.start()
        return service

    service = broker.call(_start())
    yield service, factory
    broker.call(service.stop())


def _state(client, topic):
    """The next message on `topic` (skipping others: events, availability)."""
    for _ in range(20):
        message = client.expect_one()
        if message.topic == topic:
            return message
    raise AssertionError(f"nothing on {topic}")


@pytest.mark.parametrize("version", [V311, V5])
def test_relay_commands_switch_the_pin_and_state_is_read_back(broker, relays, version):
    _service, factory = relays
    watcher = TestClient(broker.port, "watcher", version=version)
    watcher.subscribe("edge/relay/pump", 1)
    assert _state(watcher, "edge/relay/pump").payload == b"OFF"  # retained start-up state
    cmd = TestClient(broker.port, "cmd", version=version)
    pin = factory.pin(17)
    for payload, expected, level in [
        (b"ON", b"ON", False),
        (b"OFF", b"OFF", True),
        (b"TOGGLE", b"ON", False),
        (b"toggle", b"OFF", True),
    ]:
        cmd.publish("edge/relay/pump/set", payload, qos=1)
        got = _state(watcher, "edge/relay/pump")
        assert got.payload == expected and got.retain is False
        assert bool(pin.state) is level  # active-low: ON drives the pin low


def test_relay_json_command_with_for_turns_on_then_reports(broker, relays):
    _service, _factory = relays
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("edge/relay/pump", 1)
    _state(watcher, "edge/relay/pump")
    TestClient(broker.port, "cmd").publish(
        "edge/relay/pump/set", json.dumps({"state": "ON", "for": 30}), qos=1
    )
    assert _state(watcher, "edge/relay/pump").payload == b"ON"


def test_retained_relay_command_is_ignored(broker, relays):
    _service, factory = relays
    events = TestClient(broker.port, "events")
    events.subscribe("edge/relay/pump/event", 1)
    TestClient(broker.port, "cmd", version=V5).publish(
        "edge/relay/pump/set", b"ON", qos=1, retain=True
    )
    event = json.loads(events.expect_one().payload)
    assert event["event"] == "ignored"
    assert bool(factory.pin(17).state) is True  # still off (active-low)


def test_interlock_refusal_reported_on_response_topic(broker, relays):
    _service, factory = relays
    caller = TestClient(broker.port, "caller", version=V5)
    caller.subscribe("replies/caller", 1)
    caller.publish("edge/relay/up/set", b"ON", qos=1)
    props = v5_props(PacketTypes.PUBLISH, ResponseTopic="replies/caller", CorrelationData=b"42")
    caller.publish("edge/relay/down/set", b"ON", qos=1, properties=props)
    reply = caller.expect_one()
    body = json.loads(reply.payload)
    assert body["result"] == "refused" and body["output"] == "down"
    assert reply.properties.CorrelationData == b"42"
    assert bool(factory.pin(23).state) is False


def test_pwm_brightness_command(broker, relays):
    _service, factory = relays
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("edge/relay/fan", 1)
    _state(watcher, "edge/relay/fan")
    TestClient(broker.port, "cmd").publish(
        "edge/relay/fan/set", json.dumps({"state": "ON", "brightness": 40}), qos=1
    )
    state = json.loads(_state(watcher, "edge/relay/fan").payload)
    assert state["state"] == "ON" and state["brightness"] == pytest.approx(40, abs=0.5)
    assert factory.pin(18).state == pytest.approx(0.4, abs=0.005)


@pytest.fixture
def sensors(broker):
    configs = (
        SimulatedConfig(
            type="simulated",
            name="room",
            interval=0.2,
            quantities=["temperature", "humidity"],
            seed=7,
        ),
        SimulatedConfig(type="simulated", name="broken", interval=0.2, error_rate=1.0, seed=8),
    )

    async def _start():
        service = SensorService.from_config(
            configs, broker.broker.local_client("sensors"), base_topic="edge"
        )
        await service.start()
        return service

    service = broker.call(_start())
    yield service
    broker.call(service.stop())


def test_sensor_readings_reach_a_lan_subscriber(broker, sensors):
    client = TestClient(broker.port, "ha")
    client.subscribe("edge/sensor/room", 1)
    first = json.loads(client.expect_one().payload)
    assert first["temperature"]["unit"] == "°C"
    assert -40 < first["temperature"]["value"] < 85
    assert 0 <= first["humidity"]["value"] <= 100
    second = json.loads(client.expect_one().payload)
    assert second["ts"] >= first["ts"]


def test_failing_sensor_goes_offline_while_the_other_keeps_publishing(broker, sensors):
    client = TestClient(broker.port, "ha")
    client.subscribe("edge/sensor/broken/availability", 1)
    client.subscribe("edge/sensor/room", 1)
    seen_offline = False
    readings = 0
    for _ in range(40):
        message = client.expect_one()
        if message.topic.endswith("availability") and message.payload == b"offline":
            seen_offline = True
        elif message.topic == "edge/sensor/room":
            readings += 1
        if seen_offline and readings >= 3:
            break
    assert seen_offline and readings >= 3


def test_co2_commands_from_a_lan_client_reach_the_chip_between_readings(broker):
    """A paho client switches an SCD4x's self-calibration off and recalibrates it through the
    real broker; the results come back on the result topics, the setting retained."""
    from drivers.i2c.scd4x import SCD4x
    from gateway.sensors.config import SCD4xConfig
    from gateway.sensors.registry import BuiltSensor
    from tests.fakes.chips.scd4x import FakeSCD4x
    from tests.fakes.i2c import FakeClock, FakeSMBus

    chip_clock, bus = FakeClock(), FakeSMBus()
    chip = bus.attach(0x62, FakeSCD4x(chip_clock))
    built = BuiltSensor(
        SCD4xConfig(type="scd4x", name="co2", interval=60), SCD4x(bus, sleep=chip_clock.sleep)
    )
    client = TestClient(broker.port, "ha")
    client.subscribe("edge/sensor/co2", 1)

    async def _start():
        service = SensorService([built], broker.broker.local_client("sensors"), base_topic="edge")
        await service.start()
        return service

    service = broker.call(_start())
    try:
        client.expect_one()  # the first reading: online, so commands are accepted
        client.subscribe("edge/sensor/co2/+/result", 1)
        client.subscribe("edge/sensor/co2/self_calibration", 1)
        assert _state(client, "edge/sensor/co2/self_calibration").payload == b"ON"
        cmd = TestClient(broker.port, "cmd")
        cmd.publish("edge/sensor/co2/self_calibration/set", b"OFF", qos=1)
        result = json.loads(_state(client, "edge/sensor/co2/self_calibration/result").payload)
        assert result["result"] == "accepted" and chip.asc is False
        assert _state(client, "edge/sensor/co2/self_calibration").payload == b"OFF"
        cmd.publish("edge/sensor/co2/calibrate/set", b"430", qos=1)
        result = json.loads(_state(client, "edge/sensor/co2/calibrate/result").payload)
        assert result == {
            "command": "calibrate",
            "value": 430,
            "result": "accepted",
            "correction": 430 - chip.co2,
        }
    finally:
        broker.call(service.stop())
