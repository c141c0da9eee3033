"""Bridges reloaded inside a running gateway, against a real Mosquitto as the cloud: a bridge
whose connection details change reconnects and delivers, in order, what it buffered while the
cloud was unreachable; the other bridge keeps its connection (Mosquitto sees it connect once); a
removed bridge keeps what it had queued, which a bridge of the same name sends when added back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.bridge.reload import reload_bridges
from gateway.bridge.service import BridgeService
from gateway.reload import Outcome
from tests.support.bridge import cloud_behind_proxy
from tests.support.clients import V5, TestClient
from tests.support.gateway_process import free_port
from tests.support.gateway_thread import GatewayThread, load_toml
from tests.support.mosquitto import USERNAME, Mosquitto, mosquitto_available

pytestmark = pytest.mark.skipif(not mosquitto_available(), reason="mosquitto not installed")

COUNT = 40

HEAD = """
[gateway]
id = "gw1"
base_topic = "edge"
state_dir = "{state}"

[[broker.listeners]]
host = "127.0.0.1"
port = {port}

[homeassistant]
discovery = false

[store]
memory_window = 4  # the queue goes to disk past 4 messages: a reload must keep those too
"""

CLOUD = """
[[bridges]]
name = "cloud"
host = "127.0.0.1"
port = {port}
keepalive = {keepalive}
connect_timeout = 3
backoff_initial = 0.05
backoff_max = 0.5
metrics_interval = 1
tls = {{ ca_file = "{ca}", cert_file = "{cert}", key_file = "{key}", server_name = "localhost" }}
topics = [{{ pattern = "data/#", direction = "out", local_prefix = "edge/", remote_prefix = "{remote}" }}]
"""

SECOND = """
[[bridges]]
name = "second"
host = "127.0.0.1"
port = {port}
username = "{user}"
password_file = "{password}"
backoff_initial = 0.05
metrics_interval = 1
status_topic = "gw2/status"
tls = {{ ca_file = "{ca}", server_name = "localhost" }}
topics = [{{ pattern = "other/#", direction = "out", local_prefix = "edge/", remote_prefix = "gw2/" }}]
"""


def cloud(mosq: Mosquitto, port: int, keepalive: int = 5, remote: str = "gw1/") -> str:
    return CLOUD.format(
        port=port,
        keepalive=keepalive,
        remote=remote,
        ca=mosq.ca_file,
        cert=mosq.client_cert,
        key=mosq.client_key,
    )


def second(mosq: Mosquitto) -> str:
    return SECOND.format(
        port=mosq.password_port, user=USERNAME, password=mosq.password_file, ca=mosq.ca_file
    )


def wait_state(client: TestClient, bridge: str, state: str) -> None:
    """The bridge's retained state topic reports `state` (the others skipped), bounded."""
    seen = []
    for _ in range(200):
        message = client.expect_one(timeout=20)
        if message.topic == f"edge/bridge/{bridge}/state":
            seen.append(message.payload)
            if message.payload == state.encode():
                return
    raise AssertionError(f"bridge {bridge} never reported {state}: {seen}")


def link(bridge: BridgeService) -> tuple:
    """The bridge's TCP connection to the cloud, as its local address (and the socket)."""
    assert bridge.cloud is not None
    sock = bridge.cloud._client.socket()
    return sock, sock.getsockname()


def test_changed_connection_reconnects_with_its_queue_and_leaves_the_other(tmp_path: Path):
    port = free_port()
    head = HEAD.format(state=tmp_path / "state", port=port)
    with cloud_behind_proxy(tmp_path, "reload-observer", cut=True) as (mosq, proxy, observer):
        old = load_toml(tmp_path, head + cloud(mosq, proxy.port) + second(mosq), "old.toml")
        new = load_toml(tmp_path, head + cloud(mosq, mosq.mtls_port, 7) + second(mosq), "n.toml")
        other = TestClient(mosq.plain_port, "other-observer", version=V5)
        other.subscribe("gw2/#", 1)
        gateway = GatewayThread(old).start()
        try:
            states = TestClient(port, "states")
            states.subscribe("edge/bridge/+/state", 1)
            wait_state(states, "second", "connected")
            lan = TestClient(port, "lan", version=V5, clean=False, session_expiry=600)
            for n in range(COUNT):  # the cloud is unreachable: they queue (PUBACK = stored)
                lan.publish("edge/data/seq", str(n), qos=1)
            cloud_bridge, second_bridge = gateway.services(BridgeService)
            assert gateway.call(_queued(cloud_bridge)) == COUNT
            assert gateway.call(_spilled(cloud_bridge)) > COUNT // 2  # most of them on disk only
            assert other.expect_one().payload == b"online"  # the second bridge's status
            second_link = link(second_bridge)

            results = gateway.call(reload_bridges(gateway.gateway, old, new))

            assert [(r.name, r.outcome, r.detail) for r in results] == [
                (
                    "cloud",
                    Outcome.RESTARTED,
                    f"connection details (port, keepalive) changed; {COUNT} queued message(s) kept",
                ),
                ("second", Outcome.UNCHANGED, ""),
            ]
            got = [int(m.payload) for m in observer.expect(COUNT, timeout=30)]
            assert got == list(range(COUNT))  # every one, in order
            observer.sync()
            observer.expect_none()  # and no duplicate
            assert second_bridge in gateway.services(BridgeService)  # the same service, running
            assert second_bridge.counters.connects == 1 and link(second_bridge) == second_link
            lan.publish("edge/other/x", b"still bridged", qos=1)
            # the next message Mosquitto gives the observer: no offline/online status between,
            # as a reconnect of the second bridge would have published
            assert other.expect_one().payload == b"still bridged"
            assert lan.disconnects.empty() and states.disconnects.empty()
            for client in (lan, states, other):
                client.disconnect()
        finally:
            gateway.stop()


def test_a_removed_bridge_keeps_its_queue_for_its_return(tmp_path: Path):
    port = free_port()
    head = HEAD.format(state=tmp_path / "state", port=port)
    with cloud_behind_proxy(tmp_path, "removed-observer", cut=True) as (mosq, proxy, observer):
        old = load_toml(tmp_path, head + cloud(mosq, proxy.port) + second(mosq), "old.toml")
        without = load_toml(tmp_path, head + second(mosq), "without.toml")
        back = load_toml(tmp_path, head + cloud(mosq, mosq.mtls_port) + second(mosq), "back.toml")
        gateway = GatewayThread(old).start()
        try:
            lan = TestClient(port, "lan")
            for n in range(5):
                lan.publish("edge/data/seq", f"queued {n}", qos=1)
            results = gateway.call(reload_bridges(gateway.gateway, old, without))
            assert [(r.name, r.outcome, r.detail) for r in results] == [
                ("second", Outcome.UNCHANGED, ""),
                ("cloud", Outcome.REMOVED, "5 queued message(s) kept for a bridge of this name"),
            ]
            gone = TestClient(port, "gone")  # its metric topics are cleared
            gone.subscribe("edge/bridge/cloud/#", 1)
            gone.sync()
            gone.expect_none()
            gone.subscribe("edge/bridge/second/state", 1)  # positive control: a bridge's topic
            assert gone.expect_one().payload == b"connected"
            lan.publish("edge/data/seq", b"while removed", qos=1)  # no bridge: not queued
            results = gateway.call(reload_bridges(gateway.gateway, without, back))
            assert results[0].name == "cloud" and results[0].outcome is Outcome.ADDED
            got = [m.payload for m in observer.expect(5, timeout=30)]
            assert got == [f"queued {n}".encode() for n in range(5)]
            observer.sync()
            observer.expect_none()
            for client in (lan, gone):
                client.disconnect()
        finally:
            gateway.stop()


def test_changed_mappings_apply_to_the_queue_kept(tmp_path: Path):
    port = free_port()
    head = HEAD.format(state=tmp_path / "state", port=port)
    with cloud_behind_proxy(tmp_path, "mapping-observer", cut=True) as (mosq, proxy, observer):
        old = load_toml(tmp_path, head + cloud(mosq, proxy.port), "old.toml")
        new = load_toml(tmp_path, head + cloud(mosq, proxy.port, remote="gw1/data/v2/"), "n.toml")
        gateway = GatewayThread(old).start()
        try:
            lan = TestClient(port, "lan")
            for n in range(10):
                lan.publish("edge/data/seq", str(n), qos=1)
            results = gateway.call(reload_bridges(gateway.gateway, old, new))
            assert [(r.name, r.outcome, r.detail) for r in results] == [
                ("cloud", Outcome.RESTARTED, "topic mappings changed; 10 queued message(s) kept")
            ]
            proxy.set_mode("pass")  # the cloud is back: the queue goes out, mapped anew
            got = [(m.topic, int(m.payload)) for m in observer.expect(10, timeout=30)]
            assert got == [("gw1/data/v2/data/seq", n) for n in range(10)]
            lan.disconnect()
        finally:
            gateway.stop()


def test_sighup_reload_of_the_file_reconnects_the_bridge_with_its_queue(tmp_path: Path):
    """The whole path: the file rewritten, the reloader validates it in a child process and
    applies it; the result topic has the bridge's line."""
    port = free_port()
    head = HEAD.format(state=tmp_path / "state", port=port)
    with cloud_behind_proxy(tmp_path, "sighup-observer", cut=True) as (mosq, proxy, observer):
        path = tmp_path / "gateway.toml"
        old = load_toml(tmp_path, head + cloud(mosq, proxy.port))
        gateway = GatewayThread(old, path).start()
        try:
            lan = TestClient(port, "lan")
            lan.subscribe("edge/gateway/reload", 1)
            for n in range(10):
                lan.publish("edge/data/seq", str(n), qos=1)
            path.write_text(head + cloud(mosq, mosq.mtls_port))
            assert gateway.gateway is not None and gateway.gateway.reloader is not None
            report = gateway.call(gateway.gateway.reloader.reload())
            assert report.ok, report.problems
            got = [int(m.payload) for m in observer.expect(10, timeout=30)]
            assert got == list(range(10))
            result = json.loads(lan.expect_one().payload)
            assert {
                "kind": "bridge",
                "name": "cloud",
                "outcome": "restarted",
                "detail": "connection details (port) changed; 10 queued message(s) kept",
            } in result["components"]
            lan.disconnect()
        finally:
            gateway.stop()


async def _spilled(bridge: BridgeService) -> int:
    assert bridge.forwarder is not None
    return bridge.forwarder.session.spilled


async def _queued(bridge: BridgeService) -> int:
    return bridge.queued()
