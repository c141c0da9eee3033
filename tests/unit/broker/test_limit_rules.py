"""Each broker limit bites and is counted under `$SYS/broker/limits/<name>`, on the in-memory
broker (tests/support/broker_pair.py: the real core and connection code, no sockets). The limits
the glue enforces (connections per listener and in total, the connect timeout's timer task) are
tested over sockets in tests/integration/test_security_limits.py."""

from __future__ import annotations

from gateway.mqtt.codec import encode
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Disconnect, Publish
from tests.support.broker_pair import BrokerPair

R = ReasonCode


def limits(pair: BrokerPair) -> dict[str, int]:
    return dict(pair.core.stats.limits_hit)


def test_limit_counters_are_published_under_sys():
    pair = BrokerPair(max_subscriptions_per_client=1)
    client = pair.connect("c")
    assert client.subscribe("a", 0) == (0,)
    assert client.subscribe("b", 0) == (R.QUOTA_EXCEEDED,)
    watcher = pair.connect("w", 4)
    watcher.subscribe("$SYS/broker/limits/#", 0)
    pair.core.publish_sys(pair.now)
    pair.pump()
    got = watcher.message()
    assert (got.topic, got.payload) == ("$SYS/broker/limits/max_subscriptions_per_client", b"1")


def test_max_packet_size_MQTT_3_2_2_15():
    pair = BrokerPair(max_packet_size=1024)
    client = pair.connect("big")
    assert client.connack.properties.maximum_packet_size == 1024
    client.send(Publish("t", b"x" * 2000))
    (disconnect,) = client.take()
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == R.PACKET_TOO_LARGE
    assert client.closed
    assert limits(pair) == {"max_packet_size": 1}


def test_max_inflight_and_max_queued_messages():
    pair = BrokerPair(max_inflight=2, max_queued_messages=3)
    sub = pair.connect("slow", 4, auto_ack=False, clean_start=True)
    sub.subscribe("q", 1)
    pub = pair.connect("pub", 4)
    for i in range(10):
        pub.publish("q", str(i).encode(), qos=1)
    got = sub.messages()  # the in-flight window: 2 unacknowledged
    assert [p.payload for p in got] == [b"0", b"1"]
    stats = (dict(pair.core.stats.dropped), pair.core.sessions["slow"].queued_count)
    assert stats == ({"queue_full_drop_new": 5}, 3)  # 3 queued, 5 dropped, counted
    # 8 publishes found the 2-slot window full (queued or dropped), 5 found the queue full
    assert limits(pair) == {"max_inflight": 8, "max_queued_messages": 5}


def test_max_topic_length_and_levels():
    pair = BrokerPair(max_topic_length=20, max_topic_levels=3)
    for topic, name in (("t" * 21, "max_topic_length"), ("a/b/c/d", "max_topic_levels")):
        client = pair.connect("c")
        client.send(Publish(topic, b"x"))
        (disconnect,) = client.take()
        assert client.closed
        assert disconnect.reason_code == R.TOPIC_NAME_INVALID
        assert limits(pair)[name] == 1


def test_max_topic_length_and_levels_apply_to_filters_too():
    pair = BrokerPair(max_topic_length=20, max_topic_levels=3)
    v5 = pair.connect("five")
    assert v5.subscribe([("f" * 21, 0), ("a/b/+/#", 0), ("a/b/c", 1)]) == (
        R.TOPIC_FILTER_INVALID,
        R.TOPIC_FILTER_INVALID,
        1,
    )
    v3 = pair.connect("three", 4)
    assert v3.subscribe([("$share/g/a/b/c/d", 0), ("ok/#", 0)]) == (0x80, 0)
    assert limits(pair) == {"max_topic_length": 1, "max_topic_levels": 2}
    v5.publish("a/b/c", b"still subscribed", qos=1)
    assert v5.message().payload == b"still subscribed"


def test_max_subscriptions_per_client_both_versions():
    pair = BrokerPair(max_subscriptions_per_client=2)
    v5 = pair.connect("five")
    assert v5.subscribe([("a", 0), ("b", 0), ("c", 0)]) == (0, 0, R.QUOTA_EXCEEDED)
    v3 = pair.connect("three", 4)
    assert v3.subscribe([("a", 0), ("b", 0), ("c", 0)]) == (0, 0, 0x80)
    assert v5.subscribe("a", 1) == (1,)  # changing an existing subscription is not a new one
    assert limits(pair) == {"max_subscriptions_per_client": 2}


def test_publish_rate_limit():
    pair = BrokerPair(publish_rate_limit=1.0, publish_rate_burst=3)
    client = pair.connect("fast")
    client.send_bytes(encode(Publish("t", b"x"), 5) * 4)  # a burst of 4 against a bucket of 3
    (disconnect,) = client.take()
    assert client.closed
    assert disconnect.reason_code == R.MESSAGE_RATE_TOO_HIGH
    assert limits(pair) == {"publish_rate_limit": 1}


def test_publish_rate_limit_refills_with_time():
    pair = BrokerPair(publish_rate_limit=1.0, publish_rate_burst=3)
    client = pair.connect("steady")
    for _ in range(10):  # one a second, for ten seconds: never over the rate
        client.send(Publish("t", b"x"))
        pair.advance(1.0)
    assert not client.closed
    client.send_bytes(encode(Publish("t", b"x"), 5) * 4)  # the positive control
    assert client.closed


def test_receive_maximum_inbound_MQTT_3_3_4_9():
    pair = BrokerPair(receive_maximum=2)
    client = pair.connect("q2", auto_ack=False)
    assert client.connack.properties.receive_maximum == 2
    for packet_id in (1, 2, 3):  # QoS 2 without PUBREL: the third exceeds the window
        client.send(Publish("t", b"x", QoS.EXACTLY_ONCE, packet_id=packet_id))
    assert client.closed_with().reason_code == R.RECEIVE_MAXIMUM_EXCEEDED
    assert limits(pair) == {"receive_maximum": 1}
