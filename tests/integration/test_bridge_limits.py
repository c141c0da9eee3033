"""The bridge queue's limits against a real Mosquitto: overflow policies (drop-oldest, drop-newest,
refuse for MQTT 5 and 3.1.1 publishers), the age limit and MQTT 5 message expiry. The link is held
down by a cut proxy while the queue fills, then restored; the cloud subscriber sees exactly what the
policy kept, then a sentinel (so nothing else is still on its way)."""

from __future__ import annotations

import queue
import threading

import pytest

from tests.support.bridge import BridgeHarness, bridge_config, cloud_behind_proxy
from tests.support.clients import V5, TestClient, v5_props
from tests.support.mosquitto import mosquitto_available
from tests.support.tcp_proxy import TcpProxy

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not mosquitto_available(), reason="mosquitto not installed"),
]

LIMIT = 10


@pytest.fixture
def cloud(tmp_path):
    with cloud_behind_proxy(tmp_path, "limits-observer", cut=True) as parts:
        yield parts


def _harness(mosq, proxy, **queue_cfg) -> BridgeHarness:
    return BridgeHarness(bridge_config(mosq, port=proxy.port, queue=queue_cfg))


def _received(harness: BridgeHarness, proxy: TcpProxy, observer: TestClient) -> list[bytes]:
    """Reconnect, send a sentinel through the bridge, return the payloads before it."""
    proxy.set_mode("pass")
    harness.wait_state("connected")
    sentinel = TestClient(harness.port, "sentinel")
    sentinel.publish("edge/data/x", b"sentinel", qos=1)
    sentinel.disconnect()
    out = []
    while (msg := observer.expect_one(timeout=10)).payload != b"sentinel":
        out.append(msg.payload)
    return out


def _fill(port: int, count: int, version: int = V5) -> None:
    pub = TestClient(port, "filler", version=version)
    for i in range(count):
        pub.publish("edge/data/x", str(i).encode(), qos=1)
    pub.disconnect()


@pytest.mark.parametrize("policy,kept", [("drop-oldest", range(5, 15)), ("drop-newest", range(10))])
def test_drop_policies_keep_the_right_messages_and_count_drops(cloud, policy, kept):
    mosq, proxy, observer = cloud
    harness = _harness(mosq, proxy, max_messages=LIMIT, overflow=policy)
    try:
        harness.wait_state("backoff")
        _fill(harness.port, 15)
        dropped = harness.value(lambda s: dict(s.counters.dropped))
        reason = "queue_full_drop_oldest" if policy == "drop-oldest" else "queue_full_drop_new"
        assert dropped == {reason: 5}
        assert _received(harness, proxy, observer) == [str(i).encode() for i in kept]
        sys_dropped = harness.value(lambda s: s.broker.core.stats.dropped.get(f"bridge_{reason}"))
        assert sys_dropped == 5
    finally:
        harness.stop()


def test_refuse_answers_quota_exceeded_to_a_v5_publisher(cloud):
    mosq, proxy, observer = cloud
    harness = _harness(mosq, proxy, max_messages=LIMIT, overflow="refuse")
    try:
        harness.wait_state("backoff")
        _fill(harness.port, LIMIT)
        pub = TestClient(harness.port, "refused", version=V5)
        codes: queue.Queue = queue.Queue()
        pub.client.on_publish = lambda c, u, mid, rc, props: codes.put(rc)
        pub.client.publish("edge/data/x", b"one too many", 1)
        assert codes.get(timeout=5).value == 0x97  # Quota exceeded
        pub.disconnect()
        assert harness.value(lambda s: s.counters.refused) == 1
        assert _received(harness, proxy, observer) == [str(i).encode() for i in range(LIMIT)]
    finally:
        harness.stop()


def test_refuse_disconnects_a_311_publisher_without_acknowledging(cloud):
    mosq, proxy, observer = cloud
    harness = _harness(mosq, proxy, max_messages=LIMIT, overflow="refuse")
    try:
        harness.wait_state("backoff")
        _fill(harness.port, LIMIT, version=4)
        pub = TestClient(harness.port, "refused311")
        acked = threading.Event()
        pub.client.on_publish = lambda *a: acked.set()
        pub.client.publish("edge/data/x", b"one too many", 1)
        pub.disconnects.get(timeout=5)  # closed by the broker: 3.1.1 has no refusal code
        assert not acked.is_set()
        pub.client.loop_stop()
        assert _received(harness, proxy, observer) == [str(i).encode() for i in range(LIMIT)]
    finally:
        harness.stop()


def _wait_metric(harness: BridgeHarness, key: str, ok, timeout: float = 10) -> None:
    seen: queue.Queue = queue.Queue()
    watcher = TestClient(harness.port, f"metric-{key.replace('/', '-')}")
    topic = f"edge/bridge/cloud/{key}"
    watcher.client.message_callback_add(topic, lambda c, u, m: seen.put(m.payload.decode()))
    watcher.subscribe(topic, 0)
    try:
        while not ok(seen.get(timeout=timeout)):
            pass
    finally:
        watcher.disconnect()


def test_messages_older_than_max_age_are_purged(cloud):
    mosq, proxy, observer = cloud
    harness = _harness(mosq, proxy, max_age=1)
    try:
        harness.wait_state("backoff")
        _fill(harness.port, 5)
        _wait_metric(harness, "messages/dropped/max_age", lambda v: v == "5")
        pub = TestClient(harness.port, "fresh")
        pub.publish("edge/data/x", b"fresh", qos=1)
        pub.disconnect()
        assert _received(harness, proxy, observer) == [b"fresh"]
    finally:
        harness.stop()


def test_expired_messages_are_not_sent_and_expiry_counts_down(cloud):
    mosq, proxy, observer = cloud
    harness = _harness(mosq, proxy)
    try:
        harness.wait_state("backoff")
        pub = TestClient(harness.port, "expiring", version=V5)
        pub.publish("edge/data/x", b"short", qos=1, properties=v5_props(MessageExpiryInterval=1))
        pub.publish("edge/data/x", b"long", qos=1, properties=v5_props(MessageExpiryInterval=60))
        pub.disconnect()
        _wait_metric(harness, "queue/oldest_age", lambda v: float(v) >= 1.5)
        proxy.set_mode("pass")
        harness.wait_state("connected")
        got = observer.expect_one(timeout=10)
        assert got.payload == b"long"
        assert 0 < got.properties.MessageExpiryInterval < 60
        assert harness.value(lambda s: s.counters.dropped.get("expired")) == 1
    finally:
        harness.stop()
