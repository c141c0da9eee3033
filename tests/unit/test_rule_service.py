"""The rule service on an in-memory bus with a fake clock: values in, relay commands and events out."""

from __future__ import annotations

import json

from gateway.automation.service import RuleService
from gateway.config import GatewayConfig
from tests.fakes.fake_clock import FakeClock
from tests.fakes.local_bus import MemoryBus

RELAYS = [{"name": "fan", "kind": "gpio", "pin": 5}, {"name": "siren", "kind": "gpio", "pin": 6}]
SENSORS = [
    {"type": "simulated", "name": "greenhouse", "quantities": ["temperature"]},
    {"type": "gpio_input", "name": "door", "pin": 22},
]


def service(rules, clock, bus):
    config = GatewayConfig.model_validate({"relays": RELAYS, "sensors": SENSORS, "rules": rules})
    return RuleService(
        config.rules,
        bus.client("rules"),
        base_topic="edge",
        sensor_topics={s.name: s.topic for s in config.sensors},
        clock=clock,
    )


def settled(rules, clock):
    """At rest: the timer task waits, and a pending deadline is on the clock (not just fired)."""

    def check():
        pending = any(r.machine.next_deadline() is not None for r in rules.rules)
        return rules.idle and (not pending or clock.sleeping("rules-deadline") == 1)

    return check


def reading(value, quantity="temperature"):
    return json.dumps({quantity: {"value": value, "unit": "°C"}, "ts": "2026-12-03T10:00:00.000Z"})


def commands(bus, relay):
    return [json.loads(p) for p in bus.published(f"edge/relay/{relay}/set")]


FAN = {
    "name": "greenhouse-fan",
    "sensor": "greenhouse",
    "quantity": "temperature",
    "above": 28,
    "until_below": 26,
    "for": 60,
    "on_active": [{"relay": "fan", "state": "ON"}],
    "on_inactive": [{"relay": "fan", "state": "OFF"}],
    "on_unavailable": "inactive",
}


async def test_threshold_for_a_minute_switches_the_fan_on_then_off_below_the_hysteresis():
    clock, bus = FakeClock(), MemoryBus()
    rules = service([FAN], clock, bus)
    await rules.start()
    sensor = bus.client("sensors")
    await sensor.publish("edge/sensor/greenhouse", reading(29.0))
    await clock.advance_to(59, settled(rules, clock))
    assert commands(bus, "fan") == []
    await clock.advance_to(60, settled(rules, clock))  # the timer completes the minute
    assert commands(bus, "fan") == [{"state": "ON"}]
    await sensor.publish("edge/sensor/greenhouse", reading(27.0))
    await clock.advance_to(200, settled(rules, clock))
    assert commands(bus, "fan") == [{"state": "ON"}]  # 27 is inside the hysteresis
    await sensor.publish("edge/sensor/greenhouse", reading(25.5))
    await clock.advance_to(261, settled(rules, clock))
    assert commands(bus, "fan") == [{"state": "ON"}, {"state": "OFF"}]
    events = [json.loads(p) for p in bus.published("edge/rule/greenhouse-fan/event")]
    assert [(e["state"], e["cause"], e["value"], e["actions"]) for e in events] == [
        ("active", "condition", 29.0, ["relay fan ON"]),
        ("inactive", "condition", 25.5, ["relay fan OFF"]),
    ]
    assert not any(m.retain for m in bus.log if m.topic.startswith("edge/relay/"))
    await rules.stop()


async def test_sensor_offline_takes_the_configured_safe_state():
    clock, bus = FakeClock(), MemoryBus()
    rules = service([{**FAN, "for": 0}], clock, bus)
    await rules.start()
    sensor = bus.client("sensors")
    await sensor.publish("edge/sensor/greenhouse", reading(30.0))
    await sensor.publish("edge/sensor/greenhouse/availability", "offline")
    assert commands(bus, "fan") == [{"state": "ON"}, {"state": "OFF"}]
    event = json.loads(bus.published("edge/rule/greenhouse-fan/event")[-1])
    assert event["cause"] == "unavailable"
    await rules.stop()


async def test_gpio_input_and_topic_rules_with_publish_actions():
    clock, bus = FakeClock(), MemoryBus()
    rules = service(
        [
            {
                "name": "door-open",
                "sensor": "door",
                "quantity": "contact",
                "equals": False,
                "on_active": [
                    {"relay": "siren", "state": "ON", "for": 30},
                    {"publish": "alerts/door", "payload": "open", "retain": True},
                ],
            },
            {
                "name": "alarm",
                "topic": "home/alarm",
                "field": "mode",
                "equals": "away",
                "on_active": [{"relay": "siren", "state": "OFF"}],
            },
        ],
        clock,
        bus,
    )
    await rules.start()
    client = bus.client("lan")
    await client.publish("edge/sensor/door", json.dumps({"contact": {"value": False, "unit": ""}}))
    await client.publish("home/alarm", json.dumps({"mode": "away"}))
    await client.publish("home/alarm", b"not json")  # ignored
    assert commands(bus, "siren") == [{"state": "ON", "for": 30}, {"state": "OFF"}]
    assert bus.retained["alerts/door"].payload == b"open"
    await rules.stop()


async def test_retained_state_at_start_is_evaluated():
    clock, bus = FakeClock(), MemoryBus()
    await bus.client("sensors").publish("edge/sensor/greenhouse", reading(35.0), retain=True)
    rules = service([{**FAN, "for": 0}], clock, bus)
    await rules.start()
    assert commands(bus, "fan") == [{"state": "ON"}]
    await rules.stop()


async def test_message_trigger_fires_on_every_matching_message():
    clock, bus = FakeClock(), MemoryBus()
    rules = service(
        [
            {
                "name": "button",
                "topic": "demo/button",
                "equals": "press",
                "trigger": "message",
                "on_active": [{"relay": "fan", "state": "TOGGLE"}],
            }
        ],
        clock,
        bus,
    )
    await rules.start()
    lan = bus.client("lan")
    for payload in ("press", "hold", "press", " press\n"):
        await lan.publish("demo/button", payload)
    assert commands(bus, "fan") == [{"state": "TOGGLE"}] * 3
    await rules.stop()


async def test_rule_events_say_unsynced_instead_of_a_timestamp_while_the_clock_is_wrong():
    from gateway.timesync import ClockStatus

    clock, bus = FakeClock(), MemoryBus()
    rules = service([{**FAN, "for": 0}], clock, bus)
    rules.clock_status = ClockStatus(False, "timesyncd")
    await rules.start()
    await bus.client("sensors").publish("edge/sensor/greenhouse", reading(30.0))
    event = json.loads(bus.published("edge/rule/greenhouse-fan/event")[-1])
    assert "ts" not in event and event["clock"] == "unsynced"
    assert commands(bus, "fan") == [{"state": "ON"}]  # rules act on values, not on the clock
    await rules.stop()
