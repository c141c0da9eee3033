"""Publish/subscribe over real sockets with paho-mqtt, MQTT 3.1.1 and 5.0."""

from __future__ import annotations

import pytest

from tests.support.clients import V5, V311, TestClient

VERSIONS = [pytest.param(V311, id="3.1.1"), pytest.param(V5, id="5.0")]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_reaches_subscriber_at_each_qos_MQTT_4_3(broker, version, qos):
    sub = TestClient(broker.port, "sub", version=version)
    assert sub.subscribe("sensors/temp", qos) == [qos]
    pub = TestClient(broker.port, "pub", version=version)
    pub.publish("sensors/temp", b"21.5", qos=qos)
    got = sub.expect_one()
    assert (got.topic, got.payload, got.qos, got.retain) == ("sensors/temp", b"21.5", qos, False)


@pytest.mark.parametrize("pub_qos,sub_qos", [(2, 0), (2, 1), (1, 2), (0, 2), (1, 0)])
def test_delivery_qos_is_min_of_publish_and_subscription_MQTT_3_8_4_8(broker, pub_qos, sub_qos):
    sub = TestClient(broker.port, "sub")
    sub.subscribe("q/t", sub_qos)
    TestClient(broker.port, "pub").publish("q/t", b"x", qos=pub_qos)
    assert sub.expect_one().qos == min(pub_qos, sub_qos)


@pytest.mark.parametrize(
    "topic_filter,topic,matches",
    [
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a/#", "a", True),  # [MQTT-4.7.1-2] '#' includes the parent level
        ("a/#", "a/b/c/d", True),
        ("+/+", "a/b", True),
        ("+", "a/b", False),
        ("+/b", "/b", True),  # an empty level is a level [MQTT-4.7.3-?]
        ("#", "$SYS/broker/uptime", False),  # [MQTT-4.7.2-1]
        ("+/broker/uptime", "$SYS/broker/uptime", False),  # [MQTT-4.7.2-1]
        ("$SYS/#", "$SYS/broker/x", True),
    ],
)
def test_wildcard_matching_MQTT_4_7(broker, topic_filter, topic, matches):
    sub = TestClient(broker.port, "sub")
    sub.subscribe(topic_filter, 0)
    sub.subscribe("marker", 0)
    if topic.startswith("$"):
        broker.run(
            lambda: (
                broker.broker.core.route_publish(
                    __import__("gateway.mqtt.packets", fromlist=["Publish"]).Publish(topic, b"x"),
                    topic,
                    "$SYS",
                    broker.broker.clock(),
                )
                and None
            )
        )
        broker.run(broker.broker.flush)
    else:
        TestClient(broker.port, "pub").publish(topic, b"x")
    TestClient(broker.port, "pub2").publish("marker", b"end")
    got = sub.expect_one()
    if matches:
        assert got.topic == topic
        assert sub.expect_one().topic == "marker"
    else:
        assert got.topic == "marker"


def test_overlapping_subscriptions_deliver_once_with_highest_qos_MQTT_3_3_4_2(broker):
    sub = TestClient(broker.port, "sub")
    sub.subscribe("a/+", 0)
    sub.subscribe("a/#", 2)
    TestClient(broker.port, "pub").publish("a/b", b"x", qos=2)
    assert sub.expect_one().qos == 2
    sub.sync()
    sub.expect_none()


def test_in_order_delivery_per_topic_MQTT_4_6_0(broker):
    sub = TestClient(broker.port, "sub")
    sub.subscribe("seq", 1)
    pub = TestClient(broker.port, "pub")
    for i in range(200):
        pub.publish("seq", str(i).encode(), qos=1, wait=False)
    got = [int(m.payload) for m in sub.expect(200)]
    assert got == list(range(200))


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_message_sent_on_subscribe_with_retain_flag_MQTT_3_3_1_6(broker, version):
    pub = TestClient(broker.port, "pub", version=version)
    pub.publish("home/door", b"open", qos=1, retain=True)
    sub = TestClient(broker.port, "sub", version=version)
    sub.subscribe("home/+", 1)
    got = sub.expect_one()
    assert (got.topic, got.payload, got.retain) == ("home/door", b"open", True)


def test_retained_message_replaced_and_cleared_by_empty_payload_MQTT_3_3_1_10(broker):
    pub = TestClient(broker.port, "pub")
    pub.publish("r/t", b"one", qos=1, retain=True)
    pub.publish("r/t", b"two", qos=1, retain=True)
    sub = TestClient(broker.port, "sub1")
    sub.subscribe("r/t", 0)
    assert sub.expect_one().payload == b"two"
    pub.publish("r/t", b"", qos=1, retain=True)
    assert sub.expect_one().payload == b""  # the clearing message itself is delivered
    late = TestClient(broker.port, "sub2")
    late.subscribe("r/#", 0)
    late.sync()
    late.expect_none()


def test_live_message_to_existing_subscription_has_retain_cleared_MQTT_3_3_1_9(broker):
    sub = TestClient(broker.port, "sub")
    sub.subscribe("x", 0)
    TestClient(broker.port, "pub").publish("x", b"v", retain=True)
    assert sub.expect_one().retain is False


def test_unsubscribe_stops_delivery_MQTT_3_10_4(broker):
    sub = TestClient(broker.port, "sub")
    sub.subscribe("u/t", 1)
    sub.unsubscribe("u/t")
    TestClient(broker.port, "pub").publish("u/t", b"x", qos=1)
    sub.sync()
    sub.expect_none()


def test_large_payload_round_trip(broker):
    sub = TestClient(broker.port, "sub")
    sub.subscribe("big", 1)
    payload = bytes(range(256)) * 2000  # 512 kB, under the 1 MiB default limit
    TestClient(broker.port, "pub").publish("big", payload, qos=1)
    assert sub.expect_one().payload == payload
