"""Rules inside the whole gateway (a subprocess, as systemd runs it): a button message toggles a
relay with no other client's help, a sensor threshold publishes an alert, and the relay's safety
rules win over a rule (the refusal is reported on the relay's event topic)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.clients import TestClient
from tests.support.gateway_process import free_port, run_gateway

CONFIG = """
[gateway]
id = "rules-test"
base_topic = "edge"
state_dir = "{state}"
demo = true

[[broker.listeners]]
host = "127.0.0.1"
port = {port}

[homeassistant]
discovery = false

[[sensors]]
type = "simulated"
name = "air"
quantities = ["co2"]
interval = 0.2
seed = 3

[[relays]]
name = "lamp"
kind = "gpio"
pin = 17

[[relays]]
name = "compressor"
kind = "gpio"
pin = 27
min_off_seconds = 3600

[[rules]]
name = "button"
topic = "demo/button"
equals = "press"
trigger = "message"
on_active = [{{ relay = "lamp", state = "TOGGLE" }}]

[[rules]]
name = "any-co2"
sensor = "air"
quantity = "co2"
above = 0
on_active = [{{ publish = "alerts/co2", payload = "high", retain = true }}]

[[rules]]
name = "cool"
topic = "demo/cool"
field = "mode"
equals = "on"
on_active = [{{ relay = "compressor", state = "ON" }}]
"""


def test_rules_act_inside_the_gateway(tmp_path: Path):
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG.format(port=port, state=tmp_path / "state"))
    with run_gateway(config) as (proc, notify):
        notify.wait_for("READY=1")
        alerts = TestClient(port, "alerts")
        alerts.subscribe("alerts/co2", qos=1)  # the sensor rule fired (retained)
        assert alerts.expect_one(timeout=10).payload == b"high"
        watcher = TestClient(port, "watcher")
        watcher.subscribe("edge/relay/compressor/event", qos=1)
        watcher.subscribe("edge/rule/cool/event", qos=1)
        TestClient(port, "thermostat").publish("demo/cool", json.dumps({"mode": "on"}), qos=1)
        events: dict = {}
        while len(events) < 2:
            message = watcher.expect_one(timeout=10)
            events[message.topic.split("/")[2]] = json.loads(message.payload)
        assert events["cool"]["state"] == "active"
        assert events["cool"]["actions"] == ["relay compressor ON"]
        # min_off_seconds counts start-up as OFF: the relay's own rule wins, with its reason
        assert events["compressor"]["reason"] == "min_off_time"
        lamp = TestClient(port, "lamp")
        lamp.subscribe("edge/relay/lamp", qos=1)
        assert b"OFF" in lamp.expect_one().payload.upper()  # retained state at start
        TestClient(port, "button").publish("demo/button", "press", qos=1)
        assert b"ON" in lamp.expect_one().payload
        proc.terminate()
        proc.wait(20)
    assert proc.returncode == 0
