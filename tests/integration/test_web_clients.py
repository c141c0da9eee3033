"""The web surface with real clients: MQTT.js over WebSockets (3.1.1 and 5.0) and the status page in a
headless Chromium (every sensor and relay shown, values updating live, a relay switched from the
page seen on MQTT, a refusal's reason shown, screenshots at 1280 and 360 px kept as artifacts)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.integration.test_web import _config, get_json, wait_for
from tests.support.clients import TestClient
from tests.support.gateway_process import run_gateway
from tests.support.node import run_node

ARTIFACTS = Path(__file__).resolve().parents[2] / "bench" / "out"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("webclients")
    config, mqtt_port, web_port = _config(tmp_path)
    with run_gateway(config) as (_proc, notify):
        notify.wait_for("READY=1")
        yield {"mqtt": mqtt_port, "web": web_port}


@pytest.mark.parametrize("version", ["4", "5"])
def test_mqtt_js_over_websockets(gateway, version):
    tcp = TestClient(gateway["mqtt"], "tcp-observer")
    tcp.subscribe("js/test", 1)
    result = run_node(
        "mqttjs_check.js", f"ws://127.0.0.1:{gateway['web']}/mqtt", version, "js/test", timeout=60
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["connected"] and "error" not in outcome, outcome
    assert outcome["granted"] == [1, 1]
    assert outcome["received"] == f"hello from MQTT.js v{version}"
    assert outcome["retained"] in (
        "edge/relay/lamp=OFF",
        "edge/relay/lamp=ON",
        "edge/relay/pump=OFF",
    )
    got = tcp.expect_one()  # and a TCP client saw the WebSocket client's message
    assert got.payload == f"hello from MQTT.js v{version}".encode()
    tcp.disconnect()


@pytest.mark.skipif(
    not shutil.which(os.environ.get("CHROMIUM", "/usr/bin/chromium")),
    reason="chromium is not installed (apt chromium)",
)
def test_status_page_in_a_real_browser(gateway, tmp_path):
    port = gateway["web"]
    wait_for(lambda: all(s["values"] for s in get_json(port, "/api/sensors")))
    watcher = TestClient(gateway["mqtt"], "page-watcher")
    watcher.subscribe("edge/relay/lamp/event", 1)
    result = run_node(
        "browser_check.js", f"http://127.0.0.1:{port}/", "lamp", "pump", str(tmp_path), timeout=150
    )
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout.strip().splitlines()[-1])
    assert "error" not in page, page
    # no script errors, no CSP violations; the one failed request is the refused command (409)
    assert [e for e in page["errors"] if "status of 409" not in e] == []
    first = page["first"]
    assert first["sections"] == ["Gateway", "Sensors", "Relays", "Bridges", "Broker"]
    sensors = {s["name"]: s for s in first["sensors"]}
    assert set(sensors) == {"room"}
    assert set(sensors["room"]["values"]) == {"s-room-temperature", "s-room-humidity"}
    assert {r["name"]: r["buttons"] for r in first["relays"]} == {
        "lamp": ["On", "Off", "Toggle"],
        "pump": ["On", "Off", "Toggle"],
    }
    assert page["second"]["sensors"] != first["sensors"]  # updated live, no reload
    # the switch from the page went through the relay controller: MQTT saw it
    event = json.loads(watcher.expect_one(timeout=10).payload)
    assert event == {"event": "switched", "state": page["switchedTo"], "reason": "command"}
    assert page["message"] == ""
    assert "refused" in page["refusal"] and "off" in page["refusal"]  # min_off_seconds
    assert page["third"]["sensors"][0]["plotted"] >= 1  # the history plot has points
    assert page["phoneScrollWidth"] <= 360  # nothing wider than a phone's screen
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("status-1280.png", "status-360.png"):
        assert (tmp_path / name).stat().st_size > 10_000
        shutil.copy(tmp_path / name, ARTIFACTS / name)  # kept for a look after the run
    watcher.disconnect()
