"""Home Assistant discovery of the whole gateway, run as `edge-gateway run` and watched by a paho
client as Home Assistant would: one device for the sensors, relays and the gateway's own
diagnostics, `[homeassistant]` honoured (prefix, node_id, device_name, discovery = false), every
config valid for HA's discovery schema, everything republished on HA's birth message."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path

from gateway.diagnostics import CPU_THERMAL, read_cpu_temperature
from tests.support import ha_schema
from tests.support.clients import TestClient
from tests.support.gateway_process import free_port, run_gateway

CONFIG = """
[gateway]
id = "test-gw"
base_topic = "site"
state_dir = "{state}"
demo = true
[[broker.listeners]]
port = {port}
[homeassistant]
{homeassistant}
[[sensors]]
type = "simulated"
name = "air"
quantities = ["pm2_5", "co2"]
interval = 1
[[sensors]]
type = "gpio_input"
name = "door"
pin = 5
[[relays]]
name = "pump"
pin = 17
[[relays]]
name = "fan"
kind = "pwm"
pin = 18
ha_component = "fan"
[[relays]]
name = "lamp"
kind = "pwm"
pin = 19
ha_component = "light"
[[relays]]
name = "hidden"
pin = 20
ha_component = "none"
[[bridges]]
name = "cloud"
host = "127.0.0.1"
port = {cloud_port}
backoff_initial = 30
[[bridges.topics]]
pattern = "site/sensor/#"
"""
HA = 'prefix = "ha"\nnode_id = "shed1"\ndevice_name = "Shed"'


def start(tmp_path: Path, homeassistant: str):
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        CONFIG.format(
            state=tmp_path / "state", port=port, homeassistant=homeassistant, cloud_port=free_port()
        )
    )
    return port, run_gateway(config)


def collect(client: TestClient, count: int, timeout: float = 15) -> dict[str, dict]:
    """`count` retained configs, by topic."""
    configs: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(configs) < count:
        message = client.expect_one(timeout=max(0.1, deadline - time.monotonic()))
        configs[message.topic] = json.loads(message.payload)
    return configs


def wait_for(client: TestClient, topic: str, timeout: float = 15) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        message = client.expect_one(timeout=max(0.1, deadline - time.monotonic()))
        if message.topic == topic:
            return message.payload


EXPECTED = {  # (component, object_id) announced for CONFIG
    ("sensor", "air_pm2_5"),
    ("sensor", "air_co2"),
    ("binary_sensor", "door_contact"),
    ("switch", "relay_pump"),
    ("fan", "relay_fan"),
    ("light", "relay_lamp"),
    ("sensor", "gateway_clients"),
    ("sensor", "gateway_queued"),
    ("sensor", "gateway_store"),
    ("sensor", "gateway_uptime"),
    ("binary_sensor", "gateway_clock_synchronized"),
    ("binary_sensor", "bridge_cloud_connected"),
    ("sensor", "bridge_cloud_queued"),
} | (
    {("sensor", "gateway_cpu_temperature")}
    if read_cpu_temperature(CPU_THERMAL) is not None
    else set()
)


def test_one_device_every_config_valid_and_republished_on_birth(tmp_path):
    port, running = start(tmp_path, HA)
    with running as (proc, notify):
        notify.wait_for("READY=1")
        ha = TestClient(port, "home-assistant")
        ha.subscribe("ha/+/+/+/config", 1)
        configs = collect(ha, len(EXPECTED))
        assert {(t.split("/")[1], t.split("/")[3]) for t in configs} == EXPECTED
        assert {t.split("/")[2] for t in configs} == {"shed1"}
        for topic, config in configs.items():
            assert ha_schema.check(topic.split("/")[1], config) == [], topic
            assert config["device"]["identifiers"] == ["pi-edge-gateway_shed1"], topic
            assert config["device"]["name"] == "Shed"
            assert config["origin"]["sw_version"]
            assert config["availability_mode"] == "all"
            assert config["availability"][-1]["topic"] == "site/status"
        names = {c["name"] for c in configs.values()}
        assert {"Air PM2.5", "Air CO2", "Door Contact", "Pump", "Fan", "Lamp"} <= names
        assert (
            configs["ha/sensor/shed1/air_co2/config"]["availability"][0]["topic"]
            == "site/sensor/air/availability"
        )
        assert (
            configs["ha/fan/shed1/relay_fan/config"]["availability"][0]["topic"]
            == "site/relay/fan/availability"
        )

        # every availability topic an entity lists says "online"
        watcher = TestClient(port, "watcher")
        topics = {a["topic"] for c in configs.values() for a in c["availability"]}
        watcher.subscribe([(t, 1) for t in sorted(topics)])
        seen = {m.topic: m.payload for m in watcher.expect(len(topics))}
        assert seen == dict.fromkeys(topics, b"online")

        # the diagnostics entities render from the diagnostics payload
        diag = TestClient(port, "diag")
        diag.subscribe("site/gateway/diagnostics", 0)
        ha.publish("site/relay/fan/set", json.dumps({"state": "ON", "brightness": 40}), qos=1)
        ha.publish("ha/status", "online", qos=1)  # HA's birth: configs again, diagnostics at once
        payload = diag.expect_one(timeout=10).payload
        rendered = {
            object_id: ha_schema.render(
                configs[f"ha/{component}/shed1/{object_id}/config"]["value_template"], payload
            )
            for component, object_id in EXPECTED
            if object_id.startswith(("gateway_", "bridge_"))
        }
        assert rendered["gateway_clients"] == "3"  # ha, watcher, diag
        assert rendered["gateway_store"] == "ok"  # [store] is on by default
        assert rendered["bridge_cloud_connected"] == "OFF"  # nothing listens on its port
        assert int(rendered["gateway_uptime"]) >= 0
        again = collect(ha, len(EXPECTED))
        assert again == configs

        # the fan's percentage: HA reads an integer from the relay's state
        state = TestClient(port, "state")
        state.subscribe("site/relay/fan", 1)
        fan = configs["ha/fan/shed1/relay_fan/config"]
        assert (
            ha_schema.render(fan["percentage_value_template"], state.expect_one().payload) == "40"
        )

        proc.terminate()
        proc.wait(20)
        output_lines = proc.stdout.read().splitlines()
    published = [line for line in output_lines if "home assistant discovery: published" in line]
    assert published and f"published {len(EXPECTED)} config(s)" in published[0], published


def test_discovery_false_publishes_nothing(tmp_path):
    port, running = start(tmp_path, 'discovery = false\nprefix = "ha"')
    with running as (_proc, notify):
        notify.wait_for("READY=1")
        ha = TestClient(port, "home-assistant")
        ha.subscribe([("ha/#", 1), ("homeassistant/#", 1), ("site/status", 1)])
        # positive control: retained messages of this gateway do arrive on this subscription
        assert ha.expect_one().topic == "site/status"
        ha.publish("ha/status", "online", qos=1)
        ha.publish("homeassistant/status", "online", qos=1)
        messages = []
        try:
            while True:
                messages.append(ha.expect_one(timeout=1).topic)
        except queue.Empty:
            pass
        assert set(messages) <= {"ha/status", "homeassistant/status"}, messages
        assert TestClient(port, "diag").subscribe("site/gateway/diagnostics", 0) == [0]


def test_default_prefix_node_id_and_device_name(tmp_path):
    port, running = start(tmp_path, "")
    with running as (_proc, notify):
        notify.wait_for("READY=1")
        ha = TestClient(port, "home-assistant")
        ha.subscribe("homeassistant/switch/+/relay_pump/config", 1)
        message = ha.expect_one(timeout=10)
        assert message.topic == "homeassistant/switch/test-gw/relay_pump/config"
        config = json.loads(message.payload)
        assert config["device"] == {
            "identifiers": ["pi-edge-gateway_test-gw"],
            "name": "Pi Edge Gateway test-gw",
            "model": "Pi Edge Gateway",
            "manufacturer": "Pi Edge Gateway project",
            "sw_version": config["origin"]["sw_version"],
        }
