"""The bridge's upstream client against a real Mosquitto (mTLS, through a proxy the test controls):
its own count of what paho holds unacknowledged, and what is resent when the cloud has no session
for us. Waits are events: local PUBACKs (the bridge hands a message to paho in the same loop turn
that routes it), the bridge's link state and its retained `messages/acked` metric."""

from __future__ import annotations

import queue

import pytest

from tests.support.bridge import BridgeHarness, bridge_config, cloud_behind_proxy
from tests.support.clients import TestClient
from tests.support.mosquitto import mosquitto_available

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not mosquitto_available(), reason="mosquitto not installed"),
]


@pytest.fixture
def cloud(tmp_path):
    with cloud_behind_proxy(tmp_path, "cloud-observer") as parts:
        yield parts


def _wait_acked(harness: BridgeHarness, count: int, timeout: float = 15) -> None:
    """Until the bridge's `messages/acked` metric (retained, republished every second) says
    `count`."""
    seen: queue.Queue[str] = queue.Queue()
    topic = "edge/bridge/cloud/messages/acked"
    watcher = TestClient(harness.port, f"acked-{count}")
    watcher.client.message_callback_add(topic, lambda c, u, m: seen.put(m.payload.decode()))
    watcher.subscribe(topic, 0)
    values = []
    try:
        while True:
            try:
                values.append(seen.get(timeout=timeout))
            except queue.Empty:
                raise AssertionError(f"acked never reached {count}: {values}") from None
            if values[-1] == str(count):
                return
    finally:
        watcher.disconnect()


def _publish(port: int, name: str, payloads: list[bytes], qos: int = 1) -> None:
    """Publish and wait for each local PUBACK: by then the bridge has handed it to paho."""
    pub = TestClient(port, name)
    for payload in payloads:
        pub.publish("edge/data/x", payload, qos=qos)
    pub.disconnect()


def _until(observer: TestClient, last: bytes) -> list[bytes]:
    out = []
    while (msg := observer.expect_one(timeout=15)).payload != last:
        out.append(msg.payload)
    return [*out, last]


def test_pending_counts_qos1_handed_to_paho_until_the_cloud_acknowledges(cloud):
    mosq, proxy, observer = cloud
    harness = BridgeHarness(bridge_config(mosq, port=proxy.port, status_topic=""))
    try:
        harness.wait_state("connected")

        def pending() -> int:
            return harness.value(lambda s: s.cloud.pending())

        _publish(harness.port, "first", [b"1", b"2"])
        _wait_acked(harness, 2)
        assert pending() == 0

        proxy.set_mode("blackhole")  # PUBLISHes vanish: nothing is acknowledged
        _publish(harness.port, "held", [b"3", b"4", b"5"])
        _publish(harness.port, "qos0", [b"q0"], qos=0)  # sent, nothing to acknowledge
        assert pending() == 3
        assert harness.value(lambda s: len(s.forwarder.session.inflight)) == 3

        proxy.set_mode("cut")  # reset: paho resends its three when the link is back
        harness.wait_state("backoff")
        assert pending() == 3
        proxy.set_mode("pass")
        harness.wait_state("connected")
        _wait_acked(harness, 5)
        assert pending() == 0
        assert _until(observer, b"5") == [b"1", b"2", b"3", b"4", b"5"]
    finally:
        harness.stop()


def test_without_a_cloud_session_each_unacknowledged_message_is_resent_once(cloud):
    """clean_start: the cloud forgets us at every connect. What was in flight when the link
    died goes out again once, from the bridge's session (paho's own copies are dropped)."""
    mosq, proxy, observer = cloud
    harness = BridgeHarness(bridge_config(mosq, port=proxy.port, status_topic="", clean_start=True))
    try:
        harness.wait_state("connected")
        proxy.set_mode("blackhole")
        _publish(harness.port, "held", [b"1", b"2", b"3", b"4"])
        assert harness.value(lambda s: s.cloud.pending()) == 4
        proxy.set_mode("cut")
        harness.wait_state("backoff")
        proxy.set_mode("pass")
        harness.wait_state("connected")
        _publish(harness.port, "sentinel", [b"sentinel"])
        assert _until(observer, b"sentinel") == [b"1", b"2", b"3", b"4", b"sentinel"]
        _wait_acked(harness, 5)
        assert harness.value(lambda s: s.cloud.pending()) == 0
        assert harness.value(lambda s: s.forwarder.health.outstanding) == 0
    finally:
        harness.stop()


def test_a_bug_during_connect_is_logged_and_the_bridge_tries_again(cloud, caplog):
    mosq, proxy, observer = cloud
    harness = BridgeHarness(bridge_config(mosq, port=proxy.port, status_topic=""))
    try:
        harness.wait_state("connected")

        def break_once(service) -> None:
            up = service.forwarder.up

            def failing_up(*args):
                service.forwarder.up = up  # the next attempt works
                raise RuntimeError("injected")

            service.forwarder.up = failing_up

        harness.value(break_once)
        proxy.set_mode("cut")
        harness.wait_state("backoff")
        proxy.set_mode("pass")
        harness.wait_state("backoff")  # the attempt that hit the bug
        harness.wait_state("connected")
        assert "connection attempt failed" in caplog.text and "injected" in caplog.text
        _publish(harness.port, "after", [b"after"])
        assert _until(observer, b"after") == [b"after"]
    finally:
        harness.stop()


def test_metrics_are_republished_only_when_they_change(cloud, tmp_path):
    """They are retained, and retained messages are written to the store: an idle bridge used to
    rewrite them on disk every metrics interval."""
    mosq, proxy, _ = cloud
    harness = BridgeHarness(
        bridge_config(mosq, port=proxy.port, status_topic=""), store=tmp_path / "broker.db"
    )
    try:
        harness.wait_state("connected")
        _publish(harness.port, "one", [b"1"])
        _wait_acked(harness, 1)

        def publish_metrics() -> int:
            """Publish the metrics now; returns the store's operation count after it."""
            return harness.value(
                lambda s: (s.publish_metrics(s.broker.clock()), harness.thread.store.mark())[1]
            )

        idle = publish_metrics()
        assert publish_metrics() == idle  # nothing changed: nothing published, nothing written
        _publish(harness.port, "two", [b"2"])
        _wait_acked(harness, 2)  # a value that changed is published (and retained)
    finally:
        harness.stop()
