"""Relays reloaded inside a running gateway, with paho clients connected throughout: the outputs
that stay are not written at all (every write to the mock pins is recorded), removed ones get
their stop state and their retained topics cleared, added and moved ones their power-on rule, and
the clients stay connected with nothing lost on their QoS 1 sessions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from gateway import components
from gateway.relays.controller import RelayService
from gateway.relays.reload import reload_relays
from gateway.reload import ComponentResult, Outcome
from tests.fakes.recording_pin import RecordingPin
from tests.support.clients import V5, TestClient
from tests.support.gateway_process import free_port
from tests.support.gateway_thread import GatewayThread, load_toml

HEAD = """
[gateway]
id = "reload-relays"
base_topic = "edge"
state_dir = "{state}"

[[broker.listeners]]
host = "127.0.0.1"
port = {port}

[homeassistant]
discovery = false
"""

BEFORE = """
[[relays]]
name = "pump"
pin = 17

[[relays]]
name = "fan"
kind = "pwm"
pin = 18

[[relays]]
name = "old"
pin = 19

[[relays]]
name = "valve"
pin = 20
"""

AFTER = """
[[relays]]
name = "pump"
pin = 17
max_on_seconds = 3600
title = "Well pump"

[[relays]]
name = "fan"
kind = "pwm"
pin = 18

[[relays]]
name = "valve"
pin = 21

[[relays]]
name = "heater"
pin = 24
power_on = "on"
"""


@pytest.fixture
def pins(monkeypatch: pytest.MonkeyPatch) -> MockFactory:
    factory = MockFactory(pin_class=RecordingPin)
    monkeypatch.setattr(components, "pin_factory_for", lambda gateway: factory)
    return factory


def until(client: TestClient, topic: str, payload: bytes | None = None) -> Any:
    """The next message on `topic` (with `payload`, if given), skipping the others."""
    for _ in range(50):
        message = client.expect_one()
        if message.topic == topic and payload in (None, message.payload):
            return message
    raise AssertionError(f"nothing on {topic}")


def test_relays_reload_keeps_the_pins_that_stay_untouched(tmp_path: Path, pins: MockFactory):
    port = free_port()
    head = HEAD.format(state=tmp_path / "state", port=port)
    old = load_toml(tmp_path, head + BEFORE, "old.toml")
    new = load_toml(tmp_path, head + AFTER, "new.toml")
    gateway = GatewayThread(old).start()
    try:
        watcher = TestClient(port, "watcher", version=V5, clean=False, session_expiry=600)
        watcher.subscribe("edge/relay/#", 1)
        cmd = TestClient(port, "cmd")
        cmd.publish("edge/relay/pump/set", b"ON", qos=1)
        until(watcher, "edge/relay/pump", b"ON")
        cmd.publish("edge/relay/fan/set", json.dumps({"state": "ON", "brightness": 40}), qos=1)
        until(watcher, "edge/relay/fan", b'{"state":"ON","brightness":40.0}')
        cmd.publish("edge/relay/old/set", b"ON", qos=1)
        until(watcher, "edge/relay/old", b"ON")
        pump, fan = pins.pin(17), pins.pin(18)
        pump_writes, fan_writes = list(pump.writes), list(fan.writes)
        assert pump.state == 1 and fan.state == pytest.approx(0.4)

        results = gateway.call(reload_relays(gateway.gateway, old, new))

        assert [(r.name, r.outcome) for r in results] == [
            ("pump", Outcome.RECONFIGURED),
            ("fan", Outcome.UNCHANGED),
            ("valve", Outcome.RESTARTED),
            ("heater", Outcome.ADDED),
            ("old", Outcome.REMOVED),
        ]
        assert results[0] == ComponentResult(
            "relay", "pump", Outcome.RECONFIGURED,
            "max_on_seconds, title changed; the output kept its state",
        )  # fmt: skip
        assert pump.writes == pump_writes and fan.writes == fan_writes  # not a single write
        assert pump.state == 1 and fan.state == pytest.approx(0.4)
        assert pins.pin(19).state == 0  # removed: its stop state (off), then released
        assert pins.pin(20).function == "input" and pins.pin(21).state == 0  # moved
        assert pins.pin(24).state == 1  # added, power_on = "on"
        until(watcher, "edge/relay/old", b"")  # its retained state cleared
        until(watcher, "edge/relay/heater", b"ON")
        assert watcher.disconnects.empty() and cmd.disconnects.empty()

        cmd.publish("edge/relay/valve/set", b"ON", qos=1)  # commands reach the moved output
        until(watcher, "edge/relay/valve", b"ON")
        assert pins.pin(21).state == 1 and pins.pin(20).state == 0
        fresh = TestClient(port, "fresh")  # what a client subscribing now is told (retained)
        fresh.subscribe("edge/relay/+", 1)
        retained = {m.topic: m.payload for m in fresh.expect(4)}
        assert retained == {
            "edge/relay/pump": b"ON",
            "edge/relay/fan": b'{"state":"ON","brightness":40.0}',
            "edge/relay/valve": b"ON",
            "edge/relay/heater": b"ON",
        }
        fresh.sync()
        fresh.expect_none()  # nothing for the removed relay
        (service,) = gateway.services(RelayService)
        assert service.summary() == "4/4 relay(s) available"
        for client in (watcher, cmd, fresh):
            client.disconnect()
    finally:
        gateway.stop()


def test_relays_added_to_a_gateway_without_any_and_removed_again(tmp_path: Path, pins: MockFactory):
    port = free_port()
    head = HEAD.format(state=tmp_path / "state", port=port)
    none = load_toml(tmp_path, head, "none.toml")
    one = load_toml(tmp_path, head + '[[relays]]\nname = "lamp"\npin = 5\n', "one.toml")
    gateway = GatewayThread(none).start()
    try:
        assert gateway.services(RelayService) == []
        watcher = TestClient(port, "watcher", clean=False)
        watcher.subscribe("edge/relay/#", 1)
        results = gateway.call(reload_relays(gateway.gateway, none, one))
        assert results == [ComponentResult("relay", "lamp", Outcome.ADDED)]
        until(watcher, "edge/relay/lamp", b"OFF")
        TestClient(port, "cmd").publish("edge/relay/lamp/set", b"ON", qos=1)
        until(watcher, "edge/relay/lamp", b"ON")
        assert pins.pin(5).state == 1
        results = gateway.call(reload_relays(gateway.gateway, one, none))
        assert results == [ComponentResult("relay", "lamp", Outcome.REMOVED)]
        until(watcher, "edge/relay/lamp", b"")
        assert pins.pin(5).state == 0
        (service,) = gateway.services(RelayService)  # it stays, with no outputs, for the next
        assert service.summary() == "0/0 relay(s) available" and service.alive()
        assert watcher.disconnects.empty()
    finally:
        gateway.stop()


def test_sighup_reload_of_the_file_leaves_the_kept_pin_untouched(tmp_path: Path, pins: MockFactory):
    """The whole path: the file rewritten, validated in a child process, applied; the result
    topic has one line per relay."""
    port = free_port()
    head = HEAD.format(state=tmp_path / "state", port=port)
    path = tmp_path / "gateway.toml"
    gateway = GatewayThread(load_toml(tmp_path, head + BEFORE), path).start()
    try:
        watcher = TestClient(port, "watcher")
        watcher.subscribe("edge/relay/pump", 1)
        watcher.subscribe("edge/gateway/reload", 1)
        TestClient(port, "cmd").publish("edge/relay/pump/set", b"ON", qos=1)
        until(watcher, "edge/relay/pump", b"ON")
        writes = list(pins.pin(17).writes)
        path.write_text(head + AFTER)
        assert gateway.gateway is not None and gateway.gateway.reloader is not None
        report = gateway.call(gateway.gateway.reloader.reload())
        assert report.ok, report.problems
        rows = json.loads(until(watcher, "edge/gateway/reload").payload)["components"]
        assert {(r["name"], r["outcome"]) for r in rows if r["kind"] == "relay"} == {
            ("pump", "reconfigured"),
            ("fan", "unchanged"),
            ("valve", "restarted"),
            ("heater", "added"),
            ("old", "removed"),
        }
        assert pins.pin(17).writes == writes and pins.pin(17).state == 1
        assert pins.pin(24).state == 1
    finally:
        gateway.stop()
