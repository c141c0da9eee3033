"""Publish/subscribe rules, MQTT 3.1.1 and 5.0, on the in-memory broker
(tests/support/broker_pair.py: the real core and connection code, no sockets). What needs TCP
(paho's handshakes, many packets in flight, a payload over many segments) is in
tests/integration/test_broker_pubsub.py."""

from __future__ import annotations

import pytest

from gateway.mqtt.packets import Publish
from tests.support.broker_pair import BrokerPair

VERSIONS = [pytest.param(4, id="3.1.1"), pytest.param(5, id="5.0")]


@pytest.fixture
def pair():
    return BrokerPair()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_reaches_subscriber_at_each_qos_MQTT_4_3(pair, version, qos):
    sub = pair.connect("sub", version)
    assert sub.subscribe("sensors/temp", qos) == (qos,)
    pub = pair.connect("pub", version)
    pub.publish("sensors/temp", b"21.5", qos=qos)
    got = sub.message()
    assert (got.topic, got.payload, got.qos, got.retain) == ("sensors/temp", b"21.5", qos, False)


@pytest.mark.parametrize("pub_qos,sub_qos", [(2, 0), (2, 1), (1, 2), (0, 2), (1, 0)])
def test_delivery_qos_is_min_of_publish_and_subscription_MQTT_3_8_4_8(pair, pub_qos, sub_qos):
    sub = pair.connect("sub", 4)
    sub.subscribe("q/t", sub_qos)
    pair.connect("pub", 4).publish("q/t", b"x", qos=pub_qos)
    assert sub.message().qos == min(pub_qos, sub_qos)


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
def test_wildcard_matching_MQTT_4_7(pair, topic_filter, topic, matches):
    sub = pair.connect("sub", 4)
    sub.subscribe(topic_filter, 0)
    sub.subscribe("marker", 0)
    if topic.startswith("$"):  # only the broker publishes there
        pair.core.route_publish(Publish(topic, b"x"), topic, "$SYS", pair.now)
        pair.pump()
    else:
        pair.connect("pub", 4).publish(topic, b"x")
    pair.connect("pub2", 4).publish("marker", b"end")  # the positive control
    got = [m.topic for m in sub.messages()]
    assert got == ([topic, "marker"] if matches else ["marker"])


def test_overlapping_subscriptions_deliver_once_with_highest_qos_MQTT_3_3_4_2(pair):
    sub = pair.connect("sub", 4)
    sub.subscribe("a/+", 0)
    sub.subscribe("a/#", 2)
    pair.connect("pub", 4).publish("a/b", b"x", qos=2)
    assert sub.message().qos == 2  # exactly one message


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_message_sent_on_subscribe_with_retain_flag_MQTT_3_3_1_6(pair, version):
    pair.connect("pub", version).publish("home/door", b"open", qos=1, retain=True)
    sub = pair.connect("sub", version)
    sub.subscribe("home/+", 1)
    got = sub.message()
    assert (got.topic, got.payload, got.retain) == ("home/door", b"open", True)


def test_retained_message_replaced_and_cleared_by_empty_payload_MQTT_3_3_1_10(pair):
    pub = pair.connect("pub", 4)
    pub.publish("r/t", b"one", qos=1, retain=True)
    pub.publish("r/t", b"two", qos=1, retain=True)
    sub = pair.connect("sub1", 4)
    sub.subscribe("r/t", 0)
    assert sub.message().payload == b"two"
    pub.publish("r/t", b"", qos=1, retain=True)
    assert sub.message().payload == b""  # the clearing message itself is delivered
    pub.publish("r/other", b"kept", qos=1, retain=True)  # the positive control
    late = pair.connect("sub2", 4)
    late.subscribe("r/#", 0)
    assert [m.topic for m in late.messages()] == ["r/other"]


def test_live_message_to_existing_subscription_has_retain_cleared_MQTT_3_3_1_9(pair):
    sub = pair.connect("sub", 4)
    sub.subscribe("x", 0)
    pair.connect("pub", 4).publish("x", b"v", retain=True)
    assert sub.message().retain is False


def test_unsubscribe_stops_delivery_MQTT_3_10_4(pair):
    sub = pair.connect("sub", 4)
    sub.subscribe("u/t", 1)
    sub.subscribe("u/still", 1)
    sub.unsubscribe("u/t")
    pub = pair.connect("pub", 4)
    pub.publish("u/t", b"x", qos=1)
    pub.publish("u/still", b"y", qos=1)  # the positive control: delivery itself works
    assert [m.topic for m in sub.messages()] == ["u/still"]
