"""Each broker limit bites over a real socket and is counted under `$SYS/broker/limits/<name>`."""

from __future__ import annotations

import time

from gateway.broker.server import ListenerSpec
from gateway.broker.settings import BrokerSettings
from gateway.mqtt.codec import encode
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Disconnect, Publish, Subscribe, Subscription
from tests.support.clients import V5, V311, TestClient
from tests.support.raw import RawClient

R = ReasonCode


def limits(thread) -> dict[str, int]:
    return thread.run(lambda: dict(thread.broker.core.stats.limits_hit))


def settings(**kw) -> BrokerSettings:
    return BrokerSettings(sys_interval=0, **kw)


def test_limit_counters_are_published_under_sys(make_broker):
    thread = make_broker(settings(max_subscriptions_per_client=1))
    client = TestClient(thread.port, "c", version=V5)
    assert client.subscribe("a", 0) == [0]
    assert client.subscribe("b", 0) == [R.QUOTA_EXCEEDED]
    watcher = TestClient(thread.port, "w")
    watcher.subscribe("$SYS/broker/limits/#", 0)
    thread.run(lambda: thread.broker.core.publish_sys(thread.broker.clock()))
    thread.run(thread.broker.flush)
    got = watcher.expect_one()
    assert (got.topic, got.payload) == ("$SYS/broker/limits/max_subscriptions_per_client", b"1")


def test_max_connections_total(make_broker):
    thread = make_broker(max_connections=2)
    a, b = TestClient(thread.port, "a"), TestClient(thread.port, "b")
    extra = RawClient(thread.port)
    extra.send_bytes(b"\x10")  # the broker closes it without reading a CONNECT
    assert extra.wait_closed() == []
    assert limits(thread)["max_connections"] == 1
    a.disconnect()
    deadline = time.monotonic() + 5
    while thread.run(lambda: thread.broker.admission.total) > 1:  # a's close seen
        assert time.monotonic() < deadline, "the broker never saw the client leave"
    TestClient(thread.port, "c").disconnect()  # the freed slot serves a new client
    b.disconnect()


def test_max_connections_per_listener(make_broker):
    thread = make_broker(
        listeners=[
            ListenerSpec("small", "127.0.0.1", 0, max_connections=1),
            ListenerSpec("big", "127.0.0.1", 0),
        ]
    )
    small, big = (port for _, port in thread.broker.addresses)
    first = TestClient(small, "a")
    refused = RawClient(small)
    assert refused.wait_closed() == []
    assert limits(thread) == {"max_connections_small": 1}
    TestClient(big, "b").disconnect()  # the other listener is not affected
    first.disconnect()


def test_max_packet_size_MQTT_3_2_2_15(make_broker):
    thread = make_broker(settings(max_packet_size=1024))
    raw = RawClient(thread.port, version=5)
    connack = raw.connect("big")
    assert connack.properties.maximum_packet_size == 1024
    raw.send(Publish("t", b"x" * 2000))
    (disconnect,) = raw.wait_closed()
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == R.PACKET_TOO_LARGE
    assert limits(thread) == {"max_packet_size": 1}


def test_max_inflight_and_max_queued_messages(make_broker):
    thread = make_broker(settings(max_inflight=2, max_queued_messages=3))
    sub = RawClient(thread.port)
    sub.connect("slow", clean_start=True)
    sub.send(Subscribe(1, (Subscription("q", QoS.AT_LEAST_ONCE),)))
    sub.recv()
    pub = TestClient(thread.port, "pub")
    for i in range(10):
        pub.publish("q", str(i).encode(), qos=1)
    got = [sub.recv() for _ in range(2)]  # the in-flight window: 2 unacknowledged
    assert [p.payload for p in got] == [b"0", b"1"]
    stats = thread.run(
        lambda: (
            dict(thread.broker.core.stats.dropped),
            thread.broker.core.sessions["slow"].queued_count,
        )
    )
    assert stats == ({"queue_full_drop_new": 5}, 3)  # 3 queued, 5 dropped, counted
    # 8 publishes found the 2-slot window full (queued or dropped), 5 found the queue full
    assert limits(thread) == {"max_inflight": 8, "max_queued_messages": 5}


def test_connect_timeout_closes_a_silent_connection(make_broker):
    thread = make_broker(settings(connect_timeout=0.3))
    silent = RawClient(thread.port)
    assert silent.wait_closed(timeout=5) == []
    assert limits(thread) == {"connect_timeout": 1}


def test_max_topic_length_and_levels(make_broker):
    thread = make_broker(settings(max_topic_length=20, max_topic_levels=3))
    for topic, name in (("t" * 21, "max_topic_length"), ("a/b/c/d", "max_topic_levels")):
        raw = RawClient(thread.port, version=5)
        raw.connect("c")
        raw.send(Publish(topic, b"x"))
        (disconnect,) = raw.wait_closed()
        assert disconnect.reason_code == R.TOPIC_NAME_INVALID
        assert limits(thread)[name] == 1


def test_max_topic_length_and_levels_apply_to_filters_too(make_broker):
    thread = make_broker(settings(max_topic_length=20, max_topic_levels=3))
    v5 = TestClient(thread.port, "five", version=V5)
    assert v5.subscribe([("f" * 21, 0), ("a/b/+/#", 0), ("a/b/c", 1)]) == [
        R.TOPIC_FILTER_INVALID,
        R.TOPIC_FILTER_INVALID,
        1,
    ]
    v3 = TestClient(thread.port, "three", version=V311)
    assert v3.subscribe([("$share/g/a/b/c/d", 0), ("ok/#", 0)]) == [0x80, 0]
    assert limits(thread) == {"max_topic_length": 1, "max_topic_levels": 2}
    v5.publish("a/b/c", b"still subscribed", qos=1)
    assert v5.expect_one().payload == b"still subscribed"


def test_max_subscriptions_per_client_both_versions(make_broker):
    thread = make_broker(settings(max_subscriptions_per_client=2))
    v5 = TestClient(thread.port, "five", version=V5)
    assert v5.subscribe([("a", 0), ("b", 0), ("c", 0)]) == [0, 0, R.QUOTA_EXCEEDED]
    v3 = TestClient(thread.port, "three", version=V311)
    assert v3.subscribe([("a", 0), ("b", 0), ("c", 0)]) == [0, 0, 0x80]
    assert v5.subscribe("a", 1) == [1]  # changing an existing subscription is not a new one
    assert limits(thread) == {"max_subscriptions_per_client": 2}


def test_publish_rate_limit(make_broker):
    thread = make_broker(settings(publish_rate_limit=1.0, publish_rate_burst=3))
    raw = RawClient(thread.port, version=5)
    raw.connect("fast")
    raw.send_bytes(encode(Publish("t", b"x"), 5) * 4)  # a burst of 4 against a bucket of 3
    (disconnect,) = raw.wait_closed()
    assert disconnect.reason_code == R.MESSAGE_RATE_TOO_HIGH
    assert limits(thread) == {"publish_rate_limit": 1}


def test_receive_maximum_inbound_MQTT_3_3_4_9(make_broker):
    thread = make_broker(settings(receive_maximum=2))
    raw = RawClient(thread.port, version=5)
    assert raw.connect("q2").properties.receive_maximum == 2
    for packet_id in (1, 2, 3):  # QoS 2 without PUBREL: the third exceeds the window
        raw.send(Publish("t", b"x", QoS.EXACTLY_ONCE, packet_id=packet_id))
    packets = raw.wait_closed()
    assert packets[-1].reason_code == R.RECEIVE_MAXIMUM_EXCEEDED
    assert limits(thread) == {"receive_maximum": 1}
