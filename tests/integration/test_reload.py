"""Reload of the whole config on SIGHUP, against `edge-gateway run` in a subprocess with real paho
clients connected: sensors added, removed and changed; Home Assistant configs republished and the
removed sensor's cleared; an invalid file changes nothing and says why; a storm of 20 SIGHUPs leaves
the gateway running the file as it is on disk after the storm. Every wait is for a message or a
notification, never a sleep (the storm's pacing is the one deliberate delay: it is the load)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import threading
import time
from pathlib import Path

from tests.support.clients import TestClient
from tests.support.gateway_process import free_port, run_gateway

WAIT = 60.0  # a loaded CI machine: each reload starts a Python child that imports pydantic


def config_text(tmp_path: Path, port: int, sensors: list[tuple[str, int]], extra: str = "") -> str:
    text = f"""
[gateway]
id = "gw"
state_dir = "{tmp_path / "state"}"
demo = true
[broker]
sys_interval = 0
[[broker.listeners]]
port = {port}
[homeassistant]
discovery = true
{extra}
"""
    for name, interval in sensors:
        text += f"""
[[sensors]]
type = "simulated"
name = "{name}"
quantities = ["temperature"]
interval = {interval}
"""
    return text


def write(path: Path, text: str) -> None:
    """Replace the file atomically, as an editor or a config tool does."""
    tmp = path.with_suffix(".new")
    tmp.write_text(text)
    os.replace(tmp, path)


def wait_for(client: TestClient, match, timeout: float = WAIT):
    """The first message `match` accepts; the ones before it are returned too."""
    seen: list = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no matching message; saw {[m.topic for m in seen][-20:]}"
        try:
            message = client.messages.get(timeout=remaining)
        except queue.Empty:
            continue
        seen.append(message)
        if match(message):
            return message, seen


def drain(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed at the end of the test
        while sock.recv(4096):
            pass


def result_of(client: TestClient) -> dict:
    message, _ = wait_for(client, lambda m: m.topic == "edge/gateway/reload")
    return json.loads(message.payload)


def outcomes(result: dict, kind: str) -> dict[str, str]:
    return {c["name"]: c["outcome"] for c in result["components"] if c["kind"] == kind}


def test_sensors_added_removed_changed_without_dropping_clients(tmp_path):
    port = free_port()
    config = tmp_path / "gateway.toml"
    write(config, config_text(tmp_path, port, [("keep", 1), ("change", 1), ("gone", 60)]))
    with run_gateway(config) as (proc, notify):
        notify.wait_for("READY=1", WAIT)
        watcher = TestClient(port, "watcher")
        watcher.subscribe([("edge/gateway/reload", 1), ("homeassistant/#", 1)])
        keeper = TestClient(port, "keeper", clean=False)  # a persistent session, offline below
        keeper.subscribe("data/#", 1)
        keeper.disconnect()
        publisher = TestClient(port, "publisher")
        for i in range(20):
            publisher.publish("data/x", str(i).encode(), qos=1)
        wait_for(watcher, lambda m: m.topic.endswith("/gone_temperature/config") and m.payload)

        write(config, config_text(tmp_path, port, [("keep", 1), ("change", 2), ("fresh", 1)]))
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1", WAIT)
        for i in range(20, 40):  # during and after the reload
            publisher.publish("data/x", str(i).encode(), qos=1)
        result = result_of(watcher)
        notify.wait_for("READY=1", WAIT)

        assert result["ok"] is True and result["file"] == str(config)
        assert outcomes(result, "sensor") == {
            "keep": "unchanged",
            "change": "restarted",
            "gone": "removed",
            "fresh": "added",
        }
        assert outcomes(result, "discovery") == {"homeassistant": "reconfigured"}
        # the removed sensor's retained config is cleared; the new one's is there
        fresh = TestClient(port, "late")
        fresh.subscribe("homeassistant/#", 1)
        fresh.subscribe("edge/sensor/gone/availability", 1)
        fresh.sync()
        retained = {}
        while not fresh.messages.empty():
            message = fresh.messages.get()
            retained[message.topic] = message.payload
        assert any(t.endswith("/fresh_temperature/config") for t in retained)  # positive control
        assert any(t.endswith("/keep_temperature/config") for t in retained)
        assert not any("gone" in t for t in retained if t.startswith("homeassistant/"))
        assert retained["edge/sensor/gone/availability"] == b"offline"
        # the new sensor publishes; nobody was disconnected; the offline session lost nothing
        fresh.subscribe("edge/sensor/fresh", 0)
        wait_for(fresh, lambda m: m.topic == "edge/sensor/fresh")
        assert watcher.disconnects.empty() and publisher.disconnects.empty()
        keeper.connect()
        got = [int(m.payload) for m in keeper.expect(40, timeout=WAIT)]
        assert got == list(range(40))
        for client in (watcher, keeper, publisher, fresh):
            client.disconnect()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        output = proc.stdout.read()
    assert "reload: sensor gone: removed" in output
    assert "reload: sensor change: restarted (changed: interval)" in output


def test_an_invalid_file_changes_nothing_and_says_why(tmp_path):
    port = free_port()
    config = tmp_path / "gateway.toml"
    good = config_text(tmp_path, port, [("keep", 1)])
    write(config, good)
    with run_gateway(config) as (proc, notify):
        notify.wait_for("READY=1", WAIT)
        watcher = TestClient(port, "watcher")
        watcher.subscribe([("edge/gateway/reload", 1), ("edge/sensor/keep", 0)])
        bad = good.replace("interval = 1", "interval = -1").replace("sys_interval = 0", "bogus = 1")
        write(config, bad)
        proc.send_signal(signal.SIGHUP)
        result = result_of(watcher)
        assert result["ok"] is False and result["components"] == []
        assert any(p.startswith("sensors[keep].interval: ") for p in result["problems"])
        assert any(p.startswith("broker.bogus: ") for p in result["problems"])
        status = notify.wait_for("READY=1", WAIT)[-1]
        assert "reload failed: " + str(config) in status
        wait_for(watcher, lambda m: m.topic == "edge/sensor/keep")  # still reading
        # the file fixed: the next reload succeeds and the note leaves STATUS=
        write(config, good)
        proc.send_signal(signal.SIGHUP)
        assert result_of(watcher)["ok"] is True
        assert "reload failed" not in notify.wait_for("READY=1", WAIT)[-1]
        assert watcher.disconnects.empty()
        watcher.disconnect()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        output = proc.stdout.read()
    assert f"{config}: sensors[keep].interval: " in output
    assert "(reload refused; the running config stays)" in output


def test_a_storm_of_sighups_ends_on_the_file_as_it_is_after_the_storm(tmp_path):
    """20 SIGHUPs in 10 s while the file alternates between two valid versions and an invalid
    one: at most one reload runs at a time, later requests coalesce, and the gateway ends on the
    file as it is on disk when the last reload runs (here: version B)."""
    port = free_port()
    config = tmp_path / "gateway.toml"
    a = config_text(tmp_path, port, [("one", 1), ("two", 1)])
    b = config_text(tmp_path, port, [("one", 2), ("three", 1)])
    invalid = a.replace("interval = 1", "interval = 0")
    write(config, a)
    with run_gateway(config) as (proc, notify):
        notify.wait_for("READY=1", WAIT)
        watcher = TestClient(port, "watcher")
        watcher.subscribe("$SYS/broker/reload/#", 1)
        # systemd reads every notification at once; so must the test (a full socket queue
        # would block the gateway's sd_notify send, and with it its event loop)
        notify.sock.settimeout(None)
        threading.Thread(target=drain, args=(notify.sock,), daemon=True).start()
        versions = [a, b, invalid]
        for i in range(20):
            write(config, versions[i % 3])
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)  # the storm's pacing: 20 in 10 s
        assert versions[19 % 3] is b
        counters: dict[str, int] = {}

        def settled(message) -> bool:
            counters[message.topic.rsplit("/", 1)[-1]] = int(message.payload)
            return (
                message.topic.endswith("/pending")
                and counters.get("requested") == 20
                and counters["pending"] == 0
            )

        wait_for(watcher, settled)
        assert proc.poll() is None
        assert counters["runs"] + counters["coalesced"] == 20 and counters["runs"] < 20
        late = TestClient(port, "late")
        late.subscribe("edge/gateway/reload", 1)
        last = result_of(late)
        assert last["ok"] is True, last
        # consistent with B: reloading B once more finds every sensor as it is
        late.messages = queue.Queue()
        proc.send_signal(signal.SIGHUP)
        again = result_of(late)
        assert outcomes(again, "sensor") == {"one": "unchanged", "three": "unchanged"}
        late.subscribe("edge/sensor/three", 0)
        wait_for(late, lambda m: m.topic == "edge/sensor/three")
        assert watcher.disconnects.empty()
        watcher.disconnect()
        late.disconnect()
